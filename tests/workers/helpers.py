"""What the tests with real Celery workers share: a dataset of test-card crops, worker
subprocesses, waiting on the database, and the operator's slow command-line codec."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.codec_runs.models import CodecResult, CodecRun
from app.config import get_settings
from app.domain.testcard import draw_test_card
from tests.factories import declare_external_codecs, make_dataset, store_image

SLOW_WEBP: dict[str, Any] = {
    "label": "slow cwebp",
    "encode": 'sh -c \'sleep {quality}; cwebp -quiet -q 50 "$0" -o "$1"\' {input} {output}',
    "decode": "dwebp -quiet {input} -o {output}",
    "qualities": [0, 10],
    "compressed_suffix": ".webp",
}
"""Declared by the operator as ``slow-cwebp``: its quality is how many seconds it sleeps."""


@pytest.fixture
def declared_codecs() -> Iterator[Path]:
    """The operator's declarations file (the settings' default, in this test session's var
    folder, which the web, the worker thread and worker subprocesses all read) declaring
    ``slow-cwebp``; removed afterwards."""
    path = declare_external_codecs(get_settings().external_codecs, {"slow-cwebp": SLOW_WEBP})
    yield path
    path.unlink(missing_ok=True)


def dataset_with_images(engine: Engine, count: int, size: tuple[int, int] = (192, 176)) -> int:
    """Crops of the test card, stored as an import would store them."""
    card = draw_test_card()
    with Session(engine, expire_on_commit=False) as session:
        dataset = make_dataset(session, f"runs-{uuid.uuid4().hex[:8]}")
        for i in range(count):
            box = (i * 150, i * 90, i * 150 + size[0], i * 90 + size[1])
            store_image(session, dataset.id, card.crop(box), f"crop-{i}.png")
        session.commit()
        return dataset.id


def wait_for(check: Callable[[], Any], timeout_s: float = 120, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def run_status(engine: Engine, run_id: int) -> str:
    with Session(engine) as session:
        run = session.get(CodecRun, run_id)
        assert run is not None
        return run.status


def results_of(engine: Engine, run_id: int) -> list[CodecResult]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(CodecResult).where(CodecResult.run_id == run_id).order_by(CodecResult.id)
            )
        )


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "worker",
            "--queues=cpu,gpu,post",
            "--concurrency=1",
            "--loglevel=warning",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_process(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
