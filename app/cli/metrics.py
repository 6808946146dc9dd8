"""`miscomp metrics`: learned perceptual metrics on this machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.cli.helpers import user_errors
from app.config import get_settings

group = typer.Typer(help="Learned perceptual metrics on this machine.", no_args_is_help=True)


@group.command("list")
@user_errors
def metrics_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Learned perceptual metrics (LPIPS, DISTS): computed where their backbones are local."""
    from app.domain.perceptual import BACKBONES, availability

    weights_dir = get_settings().weights_dir
    rows = [availability(name, weights_dir) for name in BACKBONES]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "available": r.available,
                        "path": str(r.path or ""),
                        "detail": r.reason,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    for row in rows:
        state = "available" if row.available else "UNAVAILABLE"
        typer.echo(f"{row.name:12} {state:12} {row.path or row.reason}")
