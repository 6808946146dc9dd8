"""What only the operator decides, on the server, and never a request: the folder codec
weights and checkpoints are read from, and the file declaring the command-line codecs.

A run names a checkpoint relative to the weights folder and picks a declared command-line
codec by name; it can never point a worker at another file or program. Pure standard library,
so the web process can check a run's parameters without importing numpy or torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class OperatorSetup:
    weights_dir: Path
    """Neural codec weights and checkpoints (``MISCOMP_WEIGHTS_DIR``)."""
    external_codecs_file: Path | None = None
    """TOML or JSON file declaring the command-line codecs (``MISCOMP_EXTERNAL_CODECS``);
    None or a missing file: none are declared."""


class OutsideFolder(ValueError):
    """A path that a run gave would leave the operator's folder."""


def check_relative_name(name: str) -> PurePosixPath:
    """A file name relative to an operator's folder, as a request may give it: no absolute
    path, no ``..``, no home directory, no control characters."""
    if not name or name != name.strip():
        raise OutsideFolder("give a file name relative to the weights folder")
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or "\\" in name:
        raise OutsideFolder("the file name holds a control character or a backslash")
    relative = PurePosixPath(name)
    if relative.is_absolute() or name.startswith("~"):
        raise OutsideFolder(
            f"{name!r} is not relative: name the file relative to the weights folder"
        )
    if ".." in relative.parts:
        raise OutsideFolder(f"{name!r} leaves the weights folder ('..' is not allowed)")
    return relative


def resolve_in_folder(folder: Path, name: str) -> Path:
    """``name`` (checked as ``check_relative_name`` does) inside ``folder``, symbolic links
    resolved: refused when the resolved path lies outside the folder."""
    relative = check_relative_name(name)
    root = folder.resolve()
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root):
        raise OutsideFolder(
            f"{name!r} resolves outside the weights folder (a symbolic link pointing out of it)"
        )
    return resolved
