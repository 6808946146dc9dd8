"""`miscomp serve --workers N` (app.serving): connections are shared evenly between the
worker processes, however they arrive, and a worker that dies leaves the rest serving."""

from __future__ import annotations

import asyncio
import errno
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app import serving
from tests.servers import free_port, wait_until_answering


def _workers_of(parent: int) -> list[int]:
    """``parent``'s children: the workers, and multiprocessing's resource tracker, which
    holds no connection."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children]


def _reaped(pid: int) -> bool:
    """Whether ``pid`` has exited and its parent has reaped it: only then are its files
    surely closed (a killed process's first thread is a zombie while its other threads are
    still closing them)."""
    return not Path(f"/proc/{pid}").exists()


def _server_of(connection: http.client.HTTPConnection, port: int, pids: list[int]) -> int:
    """The process that holds the server's end of ``connection`` (by its socket's inode in
    /proc/net/tcp, then by the processes' open files)."""
    assert connection.sock is not None
    client_port = connection.sock.getsockname()[1]
    wanted = f"0100007F:{port:04X} 0100007F:{client_port:04X}"
    inode = next(
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if " ".join(line.split()[1:3]) == wanted
    )
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue  # closed meanwhile
    raise AssertionError(f"no worker holds connection {client_port}")


def _open(port: int, count: int) -> list[http.client.HTTPConnection]:
    """``count`` keep-alive connections opened at once, each then asked for /healthz."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(count)]
    for connection in connections:
        connection.connect()
    for connection in connections:
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.status == 200, answer.read()
        answer.read()
    return connections


@pytest.fixture
def two_workers(engine: Engine) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``engine``: the database /healthz answers from exists and is migrated."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/healthz", process)
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors.decode(errors="replace")[-3000:]


def _shares(
    connections: list[http.client.HTTPConnection], port: int, pids: list[int]
) -> Counter[int]:
    return Counter(_server_of(connection, port, pids) for connection in connections)


def test_a_burst_of_connections_is_shared_evenly(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    # A short-lived connection beside each long-lived one, as browsers and client libraries
    # open them: taking turns would put every long-lived one on the same worker.
    kept = []
    for _ in range(5):
        kept += _open(port, 1)
        for passing in _open(port, 1):
            passing.close()
    kept += _open(port, 5)
    time.sleep(0.5)  # the closes reach the dispatcher
    shares = _shares(kept, port, _workers_of(process.pid))
    assert sorted(shares.values()) == [5, 5], shares
    for connection in kept:
        connection.close()


def test_a_worker_that_dies_leaves_the_others_serving_and_its_replacement_joins(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = two_workers
    first = _open(port, 4)
    pids = _workers_of(process.pid)
    shares = _shares(first, port, pids)
    assert sorted(shares.values()) == [2, 2], shares
    victim = next(iter(shares))
    os.kill(victim, signal.SIGKILL)
    while not _reaped(victim):
        time.sleep(0.05)  # dying: a connection handed to it meanwhile is lost with it
    # Until uvicorn's supervisor replaces it, every new connection goes to the survivor.
    during = _open(port, 3)
    survivor = next(pid for pid in shares if pid != victim)
    assert _shares(during, port, [survivor]) == {survivor: 3}
    deadline = time.monotonic() + 60
    while True:
        # The survivor holds 5 connections; its replacement, once started, holds none and so
        # takes the next ones.
        later = _open(port, 2)
        holders = _shares(later, port, _workers_of(process.pid))
        if survivor not in holders:
            assert victim not in holders
            break
        for connection in later:
            connection.close()
        assert time.monotonic() < deadline, "the replacement worker never took a connection"
        time.sleep(1)
    for connection in first + during + later:
        connection.close()


def _on_own_thread(loop: asyncio.AbstractEventLoop, main: Callable[[], Awaitable[None]]) -> None:
    """Runs ``main()`` on ``loop`` in a thread of its own, as a worker's main thread does: the
    test's thread may be running a loop already (Playwright's, when browser tests ran in the
    same test process)."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            failed.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the worker's loop did not finish"
    if failed:
        raise failed[0]


def test_asyncios_loop_serves_handed_connections_and_reports_their_closes() -> None:
    """The loop a worker runs without uvloop (``balanced_loop``'s fallback), in this process:
    a connection accepted by the dispatcher reaches the worker's protocol, and its close
    reaches the dispatcher's count."""
    listener = socket.create_server(("127.0.0.1", 0))
    loop = serving._dispatched(asyncio.SelectorEventLoop)()
    received: list[bytes] = []

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            received.append(data)
            self.transport.write(data)  # type: ignore[attr-defined]

    with listener, serving.dispatching(listener, workers=1) as dispatcher:

        async def worker() -> None:
            # The worker's copy of the registry, as uvicorn passes it to a worker process.
            copy = socket.socket(fileno=os.dup(dispatcher.registry.fileno()))
            handed = await loop.create_server(Echo, sock=copy)
            assert isinstance(handed, serving.HandedConnections)
            with socket.create_connection(listener.getsockname(), timeout=5) as client:
                client.setblocking(False)
                await loop.sock_sendall(client, b"ping")
                answer = await asyncio.wait_for(loop.sock_recv(client, 4), timeout=5)
                assert answer == b"ping" and received == [b"ping"]
                assert list(dispatcher.open.values()) == [1]
            deadline = time.monotonic() + 5
            while list(dispatcher.open.values()) != [0]:  # the worker sees the close
                assert time.monotonic() < deadline, dispatcher.open
                await asyncio.sleep(0.05)
            handed.close()
            await handed.wait_closed()

        _on_own_thread(loop, worker)


class _OutOfDescriptorsOnce(socket.socket):
    """A listener whose first accept fails as in a process out of file descriptors."""

    failed = False

    def accept(self) -> tuple[socket.socket, object]:
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_the_dispatcher_outlives_running_out_of_file_descriptors() -> None:
    listener = _OutOfDescriptorsOnce(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    loop = serving._dispatched(asyncio.SelectorEventLoop)()

    class Hello(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(b"hello")  # type: ignore[attr-defined]

    with listener, serving.dispatching(listener, workers=1) as dispatcher:

        async def worker() -> None:
            copy = socket.socket(fileno=os.dup(dispatcher.registry.fileno()))
            await loop.create_server(Hello, sock=copy)
            with socket.create_connection(listener.getsockname(), timeout=5) as client:
                client.setblocking(False)
                # Served after the pause (a second), not lost; the dispatcher still runs.
                answer = await asyncio.wait_for(loop.sock_recv(client, 5), timeout=10)
                assert listener.failed and answer == b"hello"
                assert dispatcher.is_alive()

        _on_own_thread(loop, worker)
