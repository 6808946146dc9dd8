"""`miscomp serve`, `miscomp worker` and `miscomp sweep`: the long-running processes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from app.cli.helpers import fail, user_errors


@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Reload on code changes.")] = False,
    workers: Annotated[int, typer.Option(help="Web server processes (about one per core).")] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="A log line per request (the proxy in front logs them already, and /metrics "
            "counts them; formatting the lines took 3 % of the server's CPU under load)."
        ),
    ] = False,
) -> None:
    """Run the web server (uvicorn)."""
    import uvicorn

    if reload and workers > 1:
        raise fail("--reload runs one process; leave out --workers")
    if workers < 1:
        raise fail("--workers must be at least 1")
    options: dict[str, Any] = {
        "host": host, "port": port, "proxy_headers": True, "access_log": access_log
    }  # fmt: skip
    if workers == 1:
        uvicorn.run("app.asgi:app", reload=reload, **options)
        return
    from app import serving

    # Each connection goes to the worker with the fewest open (app.serving): uvicorn's own
    # way lets one worker take most of a burst of connections.
    serving.run(
        uvicorn.Config("app.asgi:app", workers=workers, loop="app.serving:balanced_loop", **options)
    )


@user_errors
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to consume.")
    ] = "cpu,gpu,post",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "info",
) -> None:
    """Run a Celery worker on the given queues."""
    from workers.celery_app import celery_app

    celery_app.worker_main(
        ["worker", f"--queues={queues}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


@user_errors
def sweep(
    every: Annotated[
        float | None,
        typer.Option(help="Seconds between sweeps (default: MISCOMP_SWEEP_INTERVAL_S, 30)."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Sweep once and exit.")] = False,
) -> None:
    """Send again the work whose task was lost (Redis restarted, a worker killed): run one
    beside the workers."""
    import logging
    import time

    from app.broker import BrokerUnavailable, make_celery
    from app.cli.helpers import database
    from app.config import get_settings
    from app.db import LOST_DATABASE
    from app.recovery import sweep_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    interval = every if every is not None else settings.sweep_interval_s
    if interval <= 0:
        raise fail("--every must be more than 0 seconds")
    celery = make_celery(settings)
    with database() as db:
        while True:
            try:
                report = sweep_once(db.factory, celery, settings)
                if report.resent or report.runs_finished:
                    typer.echo(
                        f"sweep: {len(report.resent)} task(s) sent again, "
                        f"{report.runs_finished} run(s) finished"
                    )
            except (BrokerUnavailable, *LOST_DATABASE) as exc:
                # The next sweep tries again: the services come back by themselves.
                typer.echo(f"sweep: skipped, {str(exc).splitlines()[0]}", err=True)
            except Exception:
                # Whatever failed this time, the sweep must outlive it: it is the recovery.
                logging.getLogger("app.recovery").exception("sweep: failed; trying again")
            if once:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return  # Ctrl-C (or the demo stopping): nothing is half done between sweeps
