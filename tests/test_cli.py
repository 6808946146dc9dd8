"""The `miscomp` command, run as a user runs it: a subprocess on the embedded default (SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import cli
from tests.factories import declare_external_codecs, image_bytes

COMMANDS = [
    [],
    ["db"],
    ["db", "upgrade"],
    ["serve"],
    ["worker"],
    ["demo"],
    ["users"],
    ["users", "create"],
    ["users", "list"],
    ["datasets"],
    ["datasets", "import"],
    ["datasets", "list"],
    ["codecs", "pack"],
    ["codecs", "fetch"],
    ["studies"],
    ["studies", "create"],
    ["studies", "list"],
    ["studies", "methods"],
    ["studies", "show"],
    ["studies", "equalise"],
    ["studies", "simulate"],
    ["metrics"],
    ["metrics", "list"],
    ["audit"],
    ["runs", "audit"],
    ["detector"],
    ["detector", "train"],
    ["detector", "evaluate"],
]


def miscomp(var: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISCOMP_")}
    env["MISCOMP_VAR_DIR"] = str(var)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "miscomp")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli.app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_every_command_wears_the_user_errors_wrapper() -> None:
    """A command without it would answer a user's mistake with a traceback."""
    commands = [(info.name or "", info.callback) for info in cli.app.registered_commands]
    for group in cli.app.registered_groups:
        assert group.typer_instance is not None
        commands += [
            (f"{group.name} {info.name}", info.callback)
            for info in group.typer_instance.registered_commands
        ]
    assert len(commands) > 20
    unwrapped = [name for name, callback in commands if not getattr(callback, "user_errors", False)]
    assert unwrapped == []


def test_following_work_looks_until_it_is_finished_and_returns_the_last_look() -> None:
    from rich.progress import BarColumn, TextColumn

    from app.cli.helpers import Tick, follow

    states = iter(["proposing", "proposing", "open", "never looked at"])
    looks: list[str] = []

    def look() -> Tick[str]:
        looks.append(next(states))
        return Tick(state=looks[-1], finished=looks[-1] != "proposing", completed=len(looks))

    last = follow((TextColumn("proposing crops"), BarColumn()), look, interval_s=0)
    assert (last.state, looks) == ("open", ["proposing", "proposing", "open"])
    already = Tick(state="done", finished=True)
    assert follow((BarColumn(),), look, first=already, interval_s=0) is already
    assert len(looks) == 3


def test_a_listing_on_a_database_not_migrated_is_one_line(tmp_path: Path) -> None:
    result = miscomp(tmp_path, "studies", "list")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: the database is not migrated")
    assert len(result.stderr.strip().splitlines()) == 1


def test_user_mistakes_are_one_line_errors_not_tracebacks(tmp_path: Path) -> None:
    not_migrated = miscomp(tmp_path, "datasets", "list")
    assert not_migrated.returncode == 1
    assert not_migrated.stderr.strip().splitlines() == [not_migrated.stderr.strip().splitlines()[0]]
    assert "miscomp db upgrade" in not_migrated.stderr and "Traceback" not in not_migrated.stderr

    assert miscomp(tmp_path, "db", "upgrade").returncode == 0
    created = miscomp(
        tmp_path, "users", "create", "alice", "--role", "admin", stdin="a long enough password\n"
    )
    assert created.returncode == 0 and "created admin 'alice'" in created.stdout
    duplicate = miscomp(
        tmp_path, "users", "create", "alice", "--role", "annotator", stdin="another password\n"
    )
    assert (duplicate.returncode, duplicate.stderr) == (1, "error: user 'alice' already exists\n")
    short = miscomp(tmp_path, "users", "create", "bob", "--role", "researcher", stdin="short\n")
    assert short.returncode == 1 and short.stderr.startswith("error: password")
    missing = miscomp(tmp_path, "datasets", "import", str(tmp_path / "nope"), "--name", "x")
    assert missing.returncode == 1
    assert missing.stderr == f"error: {tmp_path / 'nope'}: no such file or folder\n"
    bad_role = miscomp(tmp_path, "users", "create", "carol", "--role", "boss", stdin="x" * 10)
    assert bad_role.returncode == 2 and "Traceback" not in bad_role.stderr
    invalid_study = miscomp(tmp_path, "studies", "create", "--name", "s", "--run", "1", "--k", "0")
    # The same words as the study form and the API: the field, then what is wrong with it.
    assert invalid_study.returncode == 1
    assert invalid_study.stderr.startswith("error: raters_per_item: "), invalid_study.stderr
    users = miscomp(tmp_path, "users", "list")
    assert users.stdout.split() == ["1", "alice", "admin"]


def test_import_a_folder_with_progress_and_report(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(image_bytes())
    (folder / "b.jpg").write_bytes(image_bytes("JPEG"))
    (folder / "c.txt").write_bytes(b"no image")
    var = tmp_path / "var"
    assert miscomp(var, "db", "upgrade").returncode == 0

    first = miscomp(
        var, "datasets", "import", str(folder), "--name", "photos", "--license", "CC0 1.0"
    )
    assert first.returncode == 0, first.stderr
    assert "imported  a.png" in first.stdout and "failed    c.txt" in first.stdout
    assert "2 imported, 0 duplicates, 1 failed" in first.stdout
    again = miscomp(var, "datasets", "import", str(folder), "--name", "photos")
    assert "0 imported, 2 duplicates, 1 failed" in again.stdout

    listing = json.loads(miscomp(var, "datasets", "list", "--json").stdout)
    assert [(d["name"], d["images"], d["license"]) for d in listing] == [("photos", 2, "CC0 1.0")]
    assert (var / "media" / "images").is_dir()
    assert (var / "secret_key").stat().st_mode & 0o077 == 0


def test_metrics_list_says_which_backbone_is_missing_and_where_it_is_published(
    tmp_path: Path,
) -> None:
    result = miscomp(tmp_path, "metrics", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"lpips_alex", "dists"}
    for name, file_name in (("lpips_alex", "alexnet-owt-7be5be79.pth"), ("dists", "vgg16-")):
        if rows[name]["available"]:  # a machine with the backbone in torch's cache
            assert file_name in rows[name]["path"]
            continue
        assert file_name in rows[name]["detail"]
        assert str(tmp_path / "weights") in rows[name]["detail"]
        assert "https://download.pytorch.org/models/" in rows[name]["detail"]


def test_runs_pick_a_command_line_codec_the_operator_declared(tmp_path: Path) -> None:
    var = tmp_path / "var"
    declare_external_codecs(
        var / "external-codecs.toml",  # MISCOMP_EXTERNAL_CODECS's default, in the var folder
        {
            "cwebp": {
                "encode": "cwebp -quiet -q {quality} {input} -o {output}",
                "decode": "dwebp -quiet {input} -o {output}",
                "qualities": [0, 100],
                "compressed_suffix": ".webp",
            },
            "absent": {
                "encode": "no-such-codec {input} {output}",
                "decode": "true {input} {output}",
            },
        },
    )
    listing = miscomp(var, "codecs", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    (external,) = [row for row in json.loads(listing.stdout) if row["name"] == "external"]
    assert external["available"] and "cwebp" in external["detail"]
    assert external["declared"] == [
        {"name": "absent", "available": False, "detail": "'no-such-codec' not found on PATH"},
        {"name": "cwebp", "available": True, "detail": "cwebp and dwebp; quality 0-100"},
    ]
    assert "  name=cwebp" in miscomp(var, "codecs", "list").stdout

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(image_bytes())
    assert miscomp(var, "db", "upgrade").returncode == 0
    assert miscomp(var, "datasets", "import", str(folder), "--name", "photos").returncode == 0
    run = ["runs", "create", "--dataset", "photos", "--codec"]
    created = miscomp(var, *run, "external", "--param", "name=cwebp", "--param", "quality=40")
    assert (created.returncode, created.stdout) == (0, "run 1 queued\n"), created.stderr
    shown = json.loads(miscomp(var, "runs", "show", "1", "--json").stdout)
    assert shown["params"] == {"name": "cwebp", "quality": 40}

    refused = {
        ("external", "name=cwebp", "encode=sh -c id {input} {output}"): "it cannot set encode",
        ("external", "name=cwebp", "quality=101"): "cwebp has qualities 0-100",
        ("checkpoint", "path=/etc/passwd", "arch=mbt2018-mean"): "is not relative",
    }
    for (codec, *params), message in refused.items():
        flags = [flag for param in params for flag in ("--param", param)]
        answer = miscomp(var, *run, codec, *flags)
        assert answer.returncode == 1 and answer.stderr.startswith("error: "), answer.stderr
        assert message in answer.stderr and "Traceback" not in answer.stderr
    assert [r["id"] for r in json.loads(miscomp(var, "runs", "list", "--json").stdout)] == [1]

    # One --param listing several values (or "ladder") sweeps it: one run per value.
    cwebp = ["external", "--param", "name=cwebp", "--param"]
    no_ladder = miscomp(var, *run, *cwebp, "quality=ladder")
    assert (
        no_ladder.stderr == "error: sweep: cwebp declares no ladder: list the qualities to sweep\n"
    )
    swept = miscomp(var, *run, *cwebp, "quality=10,40")
    assert swept.stdout == "sweep 1: 2 runs queued (2, 3), quality = 10, 40\n", swept.stderr
    listed = json.loads(miscomp(var, "runs", "list", "--json").stdout)
    assert [(r["id"], r["sweep_id"], r["params"]["quality"]) for r in listed[:2]] == [
        (3, 1, 40),
        (2, 1, 10),
    ]
    two = miscomp(var, *run, "jpeg", "--param", "quality=10,40", "--param", "optimize=true,false")
    assert two.stderr == (
        "error: a sweep varies one parameter; quality, optimize each list several values\n"
    )
