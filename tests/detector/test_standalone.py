"""The standalone page's script: ES modules joined into one classic script that Node runs as
the browser would; forms of import it cannot inline, and modules that import each other, are
refused with their reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.detector.standalone import viewer_script


def _modules(folder: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(source)
    return folder


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (make install)")
def test_modules_join_into_one_script_that_runs(tmp_path: Path) -> None:
    folder = _modules(
        tmp_path,
        {
            "lib/maths.js": "export const TWO = 2;\nexport function twice(x) { return x * TWO; }\n",
            "lib/words.js": 'import * as maths from "./maths.js";\n'
            "export class Say { of(x) { return `is ${maths.twice(x)}`; } }\n",
            "main.js": 'import { Say } from "./lib/words.js";\n'
            'import { twice, TWO } from "./lib/maths.js";\n'
            "console.log(new Say().of(21), twice(TWO));\n",
        },
    )
    script = viewer_script.__wrapped__(folder, "main.js")
    assert "import " not in script and "export " not in script
    ran = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "is 42 4"


def test_what_cannot_be_inlined_is_refused(tmp_path: Path) -> None:
    cases = {
        "default.js": ('import thing from "./other.js";\n', "does not inline"),
        "bare.js": ('import { a } from "lodash";\n', "only relative modules"),
        "a.js": ('import { b } from "./b.js";\nexport const a = 1;\n', "import each other"),
    }
    _modules(tmp_path, {name: source for name, (source, _) in cases.items()})
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\nexport const b = 1;\n')
    (tmp_path / "other.js").write_text("export const thing = 1;\n")
    for entry, (_, said) in cases.items():
        with pytest.raises(ValueError, match=said):
            viewer_script.__wrapped__(tmp_path, entry)


def test_the_shipped_viewer_joins() -> None:
    script = viewer_script()
    assert "class Viewer" in script and "function showRegion" in script
    assert "</script" not in script
