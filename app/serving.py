"""`miscomp serve --workers N`: uvicorn's worker processes, with the connections shared
evenly between them.

Uvicorn's workers all accept on one listening socket, and a worker's event loop accepts every
connection waiting there before it looks at anything else. So when connections come at once
(twenty annotators starting a session, a proxy opening its pool) the worker that wakes first
takes most of them, and keeps them for as long as they are kept alive: measured, one worker
served 19 annotators and the other 1, and everyone on the busy one waited twice as long
(docs/benchmarks.md). Here the supervisor's process accepts instead, once every worker has
started, and hands each connection to the worker with the fewest open, over a Unix socket of
each worker's own (``SCM_RIGHTS``). Uvicorn's supervisor is kept as it is: it starts,
checks, restarts and stops the workers.

A worker learns where to ask for connections from the one socket uvicorn passes it: the
dispatcher's registry, a Unix ``SOCK_SEQPACKET`` listener (never an HTTP listener). The event
loop made by ``balanced_loop`` connects to it instead of listening on it
(``create_server``), and serves every connection it is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

logger = logging.getLogger("uvicorn.error")

STARTUP_WAIT_S = 30.0
"""How long the dispatcher waits, once the first worker has started, for the others before it
accepts connections anyway."""

PAUSE_AFTER_FAILURE_S = 1.0
"""How long the dispatcher waits after accepting failed (out of file descriptors, say), as
asyncio's own servers do."""

HAND_TIMEOUT_S = 1.0
"""How long the dispatcher waits for one worker to take a connection before it offers the
connection to the next: a worker whose queue is full is busy or stuck."""


class Dispatcher(threading.Thread):
    """Accepts on ``listener`` and hands each connection to the registered worker with the
    fewest open connections (the one that registered first of those that tie).

    Workers register by connecting to ``registry``, and say on that channel each time a
    connection of theirs closes; a worker that exits (its channel reads as closed) leaves.
    Connections wait in the listener's backlog until all ``expected`` workers have started
    (or ``STARTUP_WAIT_S`` after the first, if one does not), so that a worker slower to
    start does not leave every early connection to the others, and while no worker is
    registered. Counting open connections, not taking turns, is what keeps the shares even:
    a browser or a client library often opens a short-lived connection beside its long-lived
    one, and taking turns would then put every long-lived one on the same worker."""

    def __init__(self, listener: socket.socket, registry: socket.socket, expected: int) -> None:
        super().__init__(name="miscomp-dispatcher", daemon=True)
        self.listener = listener
        self.registry = registry
        self.expected = expected
        self.open: dict[socket.socket, int] = {}
        """Each registered worker's channel, and how many connections it has open."""
        self._accepting = False
        self._all_started = False
        """All workers have started, or the first has and the others were given up on."""
        self._first_registered = 0.0
        self._stopped = threading.Event()
        self._selector = selectors.DefaultSelector()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        self.listener.setblocking(False)
        self._selector.register(self.registry, selectors.EVENT_READ)
        try:
            while not self._stopped.is_set():
                self._accept_when_ready()
                for key, _ in self._selector.select(timeout=0.2):
                    try:
                        if key.fileobj is self.registry:
                            self._register()
                        elif key.fileobj is self.listener:
                            self._accept()
                        else:
                            self._news_from(key.fileobj)  # type: ignore[arg-type]
                    except OSError:
                        # Out of file descriptors or memory (EMFILE, ENOBUFS): at once, it
                        # would fail again. Connections wait in the backlog meanwhile.
                        logger.exception("the dispatcher failed; trying again in a second")
                        self._stopped.wait(PAUSE_AFTER_FAILURE_S)
        finally:
            self._selector.close()
            for channel in self.open:
                channel.close()

    def _register(self) -> None:
        channel, _ = self.registry.accept()
        channel.settimeout(HAND_TIMEOUT_S)
        self.open[channel] = 0
        self._selector.register(channel, selectors.EVENT_READ)
        if len(self.open) == 1:
            self._first_registered = time.monotonic()

    def _accept_when_ready(self) -> None:
        if not self._all_started and self.open:
            waited = time.monotonic() - self._first_registered
            self._all_started = len(self.open) >= self.expected or waited > STARTUP_WAIT_S
        ready = self._all_started and bool(self.open)
        if ready and not self._accepting:
            self._selector.register(self.listener, selectors.EVENT_READ)
        elif self._accepting and not ready:
            self._selector.unregister(self.listener)
        self._accepting = ready

    def _news_from(self, channel: socket.socket) -> None:
        try:
            news = channel.recv(1)
        except OSError:
            news = b""
        if news:  # a message per connection the worker has closed
            self.open[channel] = max(0, self.open[channel] - 1)
            return
        self._selector.unregister(channel)  # the worker has gone
        del self.open[channel]
        channel.close()

    def _accept(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another wakeup took it, or the client gave up before it was accepted
        with connection:
            for channel in sorted(self.open, key=self.open.__getitem__):
                self.open[channel] += 1
                try:
                    socket.send_fds(channel, [b"c"], [connection.fileno()])
                except OSError:
                    # Busy, stuck or gone (then dropped when its channel reads): the next.
                    self.open[channel] -= 1
                    continue
                return
            logger.warning("no worker took a connection; closed it")


@contextlib.contextmanager
def dispatching(listener: socket.socket, workers: int) -> Iterator[Dispatcher]:
    """A dispatcher for ``listener`` and ``workers`` workers, running while the block runs;
    its ``registry`` is the socket to pass to uvicorn's workers."""
    with tempfile.TemporaryDirectory(prefix="miscomp-serve-") as folder:
        registry = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        registry.bind(os.path.join(folder, "workers.sock"))
        registry.listen(64)
        dispatcher = Dispatcher(listener, registry, workers)
        dispatcher.start()
        try:
            yield dispatcher
        finally:
            dispatcher.stop()
            dispatcher.join(timeout=5)
            registry.close()


def run(config: Any) -> None:
    """Uvicorn's multi-process server (``config.workers`` processes), the connections shared
    by a ``Dispatcher``. ``config``: a ``uvicorn.Config`` whose ``loop`` is
    ``balanced_loop``."""
    from uvicorn.supervisors import Multiprocess

    listener = config.bind_socket()
    listener.listen(config.backlog)  # uvicorn's workers would, on their copies
    try:
        with dispatching(listener, config.workers) as dispatcher:
            Multiprocess(config, sockets=[dispatcher.registry]).run()
    finally:
        listener.close()


class HandedConnections:
    """A worker's end: serves the connections the dispatcher hands it. It stands in for the
    ``asyncio.Server`` uvicorn keeps (``close``, ``wait_closed``)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        registry: socket.socket,
    ) -> None:
        self.loop = loop
        self.protocol_factory = protocol_factory
        self.channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.channel.connect(registry.getsockname())
        registry.close()  # the worker's copy; the dispatcher's own stays open
        self.channel.setblocking(False)
        self._closed = asyncio.Event()
        loop.add_reader(self.channel.fileno(), self._receive)

    def _receive(self) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, 1, 1)
            except BlockingIOError:
                return
            if not message and not fds:
                logger.error("the dispatcher has gone; this worker takes no new connections")
                self.close()
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                self.loop.create_task(self._serve(connection))

    async def _serve(self, connection: socket.socket) -> None:
        try:
            connection.setblocking(False)
            await self.loop.connect_accepted_socket(self._counted_protocol, connection)
        except OSError:
            connection.close()  # the client left before its connection was handed over
            self._closed_one()

    def _counted_protocol(self) -> asyncio.Protocol:
        """uvicorn's protocol for a connection, which tells the dispatcher when it closes."""
        protocol = self.protocol_factory()
        lost = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            try:
                lost(exc)
            finally:
                self._closed_one()

        protocol.connection_lost = connection_lost  # type: ignore[method-assign]
        return protocol

    def _closed_one(self) -> None:
        if self._closed.is_set():
            return
        # The channel's queue may be full (the dispatcher is behind) or gone: the dispatcher
        # then counts this worker busier than it is, which only sends new connections
        # elsewhere.
        with contextlib.suppress(OSError):
            self.channel.send(b"x")

    def close(self) -> None:
        if not self._closed.is_set():
            self.loop.remove_reader(self.channel.fileno())
            self.channel.close()
            self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


def _is_registry(sock: object) -> TypeGuard[socket.socket]:
    return (
        isinstance(sock, socket.socket)
        and sock.family == socket.AF_UNIX
        and sock.type == socket.SOCK_SEQPACKET
    )


def _dispatched(base: type[asyncio.AbstractEventLoop]) -> type[asyncio.AbstractEventLoop]:
    """``base`` whose ``create_server`` serves the connections a dispatcher hands it when
    given the dispatcher's registry, and listens as usual otherwise."""

    class DispatchedLoop(base):  # type: ignore[valid-type,misc]
        async def create_server(
            self, protocol_factory: Callable[[], asyncio.Protocol], *args: Any, **kwargs: Any
        ) -> Any:
            sock = kwargs.get("sock")
            if _is_registry(sock):
                return HandedConnections(self, protocol_factory, sock)
            return await super().create_server(protocol_factory, *args, **kwargs)

    return DispatchedLoop


def balanced_loop() -> asyncio.AbstractEventLoop:
    """The event loop of a worker (``uvicorn.Config(loop="app.serving:balanced_loop")``):
    uvloop's where it is installed, as uvicorn's "auto" chooses, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return _dispatched(asyncio.SelectorEventLoop)()
    return _dispatched(uvloop.Loop)()
