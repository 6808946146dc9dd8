"""`miscomp serve` and `miscomp worker`: the long-running processes."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.helpers import fail, user_errors


@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Reload on code changes.")] = False,
    workers: Annotated[int, typer.Option(help="Web server processes (about one per core).")] = 1,
) -> None:
    """Run the web server (uvicorn)."""
    import uvicorn

    if reload and workers > 1:
        raise fail("--reload runs one process; leave out --workers")
    uvicorn.run(
        "app.asgi:app", host=host, port=port, reload=reload, workers=workers, proxy_headers=True
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
