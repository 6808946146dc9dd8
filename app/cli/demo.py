"""`miscomp demo`: the embedded demo set up, then the web server, a worker and the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from app.cli.datasets import import_path
from app.cli.helpers import database, fail, user_errors
from app.config import get_settings


@user_errors
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    serve: Annotated[
        bool, typer.Option(help="Start the web server, a worker and the sweep.")
    ] = True,
) -> None:
    """Set up the embedded demo (accounts, demo dataset), then run the web server, a worker
    and the recovery sweep."""
    from app import demo as demo_setup
    from app.migrate import upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    with database() as db:
        with db.session(actor="demo") as session:
            accounts = demo_setup.ensure_accounts(session, settings)
            demo_setup.ensure_demo_dataset(session)
        declared = demo_setup.ensure_example_external_codecs(settings)
        if declared:
            typer.echo(declared)
        folder = demo_setup.build_demo_folder(settings.var_dir / "demo-source")
        job = import_path(db, folder, name=demo_setup.DEMO_DATASET)
        typer.echo(
            f"demo dataset {demo_setup.DEMO_DATASET!r}: {job.n_imported} new images, "
            f"{job.n_duplicate} already there, {job.n_failed} failed"
        )
        with db.session(actor="demo") as session:
            dataset = demo_setup.ensure_demo_dataset(session)
            for message in demo_setup.ensure_demo_runs(session, dataset):
                typer.echo(message)
            for study_message in (
                demo_setup.ensure_demo_study(session),
                demo_setup.ensure_demo_simulated_study(session),
            ):
                if study_message:
                    typer.echo(study_message)
    typer.echo("\nDemo accounts (username / password):")
    for account in accounts:
        typer.echo(f"  {account.role.value:11} {account.username:12} {account.password}")
    if not serve:
        return
    _run_web_and_worker(host, port)


def _run_web_and_worker(host: str, port: int) -> None:
    python = sys.executable
    env = dict(os.environ)
    processes = [
        subprocess.Popen(
            [python, "-m", "app.cli", "worker", "--concurrency=1", "--loglevel=warning"], env=env
        ),
        subprocess.Popen(
            [python, "-m", "app.cli", "serve", f"--host={host}", f"--port={port}"], env=env
        ),
        # The recovery sweep, as in a deployment: a demo worker killed mid-task is taken over.
        subprocess.Popen([python, "-m", "app.cli", "sweep"], env=env),
    ]
    typer.echo(f"\nmiscomp is running at http://{host}:{port}  (Ctrl-C stops it)")
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [p.returncode for p in processes if p.returncode not in (0, None, -2, 130)]
    if failed:
        raise fail(f"a demo process exited with status {failed[0]}")
