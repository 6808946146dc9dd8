"""The Celery application as configured for each broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.broker import make_celery
from app.config import Settings


def test_the_embedded_broker_writes_only_under_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kombu's filesystem transport keeps exchange tables in ./control unless told otherwise:
    they belong under var/ with its queues, not in whatever folder the command ran from."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    settings = Settings(var_dir=tmp_path / "var", broker_url="filesystem://", secret_key="x")
    celery = make_celery(settings)
    celery.send_task("workers.tasks.imports.run_import", args=[1], queue="cpu")
    assert list(work.iterdir()) == []
    control = settings.broker_dir / "control"
    assert (control / "cpu.exchange").is_file()
    queued = list((settings.broker_dir / "queue").iterdir())
    assert len(queued) == 1
