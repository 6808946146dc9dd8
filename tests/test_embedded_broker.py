"""The embedded broker (`make demo`): a worker polling the queue folder while messages are
written never takes a half-written one (kombu's own transport let it, and the worker died on
the empty JSON)."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection
from kombu.transport.virtual import Channel

from app.embedded_broker import AtomicFilesystemTransport

MESSAGES = 3000


def _channel(folder: Path, transport: object) -> Channel:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder.parent / "processed"),
        "control_folder": str(folder.parent / "control"),
        "store_processed": False,
    }
    connection = Connection("filesystem://", transport=transport, transport_options=options)
    channel: Channel = connection.default_channel
    return channel


def _drain_while_writing(tmp_path: Path, transport: object) -> list[object]:
    for name in ("queue", "processed", "control"):
        (tmp_path / name).mkdir()
    producer = _channel(tmp_path / "queue", transport)
    consumer = _channel(tmp_path / "queue", transport)
    received: list[object] = []
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()

    def drain() -> None:
        while writing.is_set() or len(received) < MESSAGES:
            try:
                received.append(consumer._get("cpu"))
            except Exception as exc:  # noqa: BLE001 - kombu's Empty, or the decoding error
                if type(exc).__name__ != "Empty":
                    errors.append(exc)
                    return
                if not writing.is_set():
                    return

    thread = threading.Thread(target=drain)
    thread.start()
    for number in range(MESSAGES):
        producer._put("cpu", {"body": number})
    writing.clear()
    thread.join(timeout=120)
    if errors:
        raise errors[0]
    return received


def test_a_polling_worker_takes_every_message_whole(tmp_path: Path) -> None:
    received = _drain_while_writing(tmp_path, AtomicFilesystemTransport)
    assert sorted(m["body"] for m in received) == list(range(MESSAGES))  # type: ignore[index]
    assert not list((tmp_path / "queue").iterdir())  # nothing half-written left behind


def test_the_demo_broker_uses_the_atomic_transport(tmp_path: Path) -> None:
    from app.broker import make_celery
    from app.config import Settings

    celery = make_celery(Settings(var_dir=tmp_path, broker_url="filesystem://"))
    with celery.connection_for_write() as connection:
        assert isinstance(connection.transport, AtomicFilesystemTransport)
