"""The `miscomp` command: thin over the services; user mistakes get one line, no traceback.

One module per noun (``miscomp runs ...`` lives in ``runs.py``), each with its Typer ``group``;
what the commands share (the session helper, the progress helper, the ``user_errors`` wrapper
every command wears) is in ``helpers.py``. This module only assembles them. Heavy imports
(torch, the services) stay inside the commands, so ``--help`` is quick and the web process
never imports torch through here.
"""

from __future__ import annotations

import typer

from app.cli import (
    agreement,
    audit,
    backup,
    codecs,
    datasets,
    db,
    demo,
    detector,
    metrics,
    runs,
    server,
    studies,
    users,
)

app = typer.Typer(help="miscomp: find, label and measure miscompressions.", no_args_is_help=True)
app.command()(server.serve)
app.command()(server.worker)
app.command()(server.sweep)
app.command()(demo.demo)
app.add_typer(db.group, name="db")
app.add_typer(users.group, name="users")
app.add_typer(datasets.group, name="datasets")
app.add_typer(runs.group, name="runs")
app.add_typer(codecs.group, name="codecs")
app.add_typer(detector.group, name="detector")
app.command("audit")(audit.audit)
runs.group.command("audit")(audit.runs_audit)
app.add_typer(studies.group, name="studies")
app.add_typer(metrics.group, name="metrics")
app.add_typer(agreement.group, name="agreement")
app.add_typer(backup.group, name="backup")


def main() -> None:
    app()
