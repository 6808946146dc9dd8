"""The pixel-exact viewer for a page that stands alone (`miscomp audit --html`): the web's own
ES modules (``static/js/audit.js`` and what it imports) joined into one inline script, so that
the file opened from a disk, with no server, shows the pair as the web's audit page does.

Each module becomes a function that returns its exports, run once in import order; an
``import * as name`` or ``import { a, b }`` line becomes a lookup of those exports. Any other
form of import is refused (a ValueError), so that a change to the modules cannot go unseen."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path, PurePosixPath

from app.config import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "static" / "js"
ENTRY = "audit.js"
_NAMESPACE = re.compile(r'^import \* as (\w+) from "([^"]+)";$', re.M)
_NAMED = re.compile(r'^import \{([^}]*)\} from "([^"]+)";$', re.M)
_ANY_IMPORT = re.compile(r"^import\b.*$", re.M)
_EXPORT = re.compile(r"^export (?=(?:const|let|function|class|async function) )", re.M)
_EXPORTED = re.compile(r"^export (?:const|let|function|class|async function) (\w+)", re.M)


def _resolve(importer: str, specifier: str) -> str:
    if not specifier.startswith("./"):
        raise ValueError(f"{importer} imports {specifier!r}: only relative modules are inlined")
    return str(PurePosixPath(importer).parent / specifier[2:])


def _module(name: str, source: str) -> str:
    """One module as a function of the modules before it, returning its exports."""

    def namespace(match: re.Match[str]) -> str:
        return f"const {match[1]} = modules[{_resolve(name, match[2])!r}];"

    def named(match: re.Match[str]) -> str:
        return f"const {{{match[1]}}} = modules[{_resolve(name, match[2])!r}];"

    body = _NAMED.sub(named, _NAMESPACE.sub(namespace, source))
    if left := _ANY_IMPORT.findall(body):
        raise ValueError(f"{name}: an import this bundler does not inline: {left[0]}")
    exported = _EXPORTED.findall(body)
    body = _EXPORT.sub("", body)
    return f"modules[{name!r}] = (() => {{\n{body}\nreturn {{ {', '.join(exported)} }};\n}})();"


def _imports(name: str, source: str) -> list[str]:
    found = [m[2] for m in _NAMESPACE.finditer(source)] + [m[2] for m in _NAMED.finditer(source)]
    return [_resolve(name, specifier) for specifier in found]


@lru_cache(maxsize=1)
def viewer_script(folder: Path = SCRIPTS, entry: str = ENTRY) -> str:
    """The entry module and everything it imports, as one classic script."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"modules import each other: {' -> '.join((*path, name))}")
        if name in order:
            return
        source = (folder / name).read_text()
        for imported in _imports(name, source):
            visit(imported, (*path, name))
        order.append(name)

    visit(entry, ())
    modules = [_module(name, (folder / name).read_text()) for name in order]
    return "(() => {\nconst modules = {};\n" + "\n".join(modules) + "\n})();\n"
