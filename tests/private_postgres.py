"""A PostgreSQL server of a test's own, in a temporary folder on a free loopback port, that the
test may stop (as a crash or a clean shutdown) and start again: the shared server on 5432
serves every other test and engineer and is never touched.

PostgreSQL refuses to run as root; as root, its programs run as the ``postgres`` system user
(``runuser``), which owns the folder. ``fsync`` is off: a stop here ends the server, not the
machine, so the operating system still holds every write (and initdb and each start stay fast).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import create_engine, text

from tests.servers import free_port


def _bin_dir() -> Path:
    """Debian's newest PostgreSQL programs (/usr/lib/postgresql/<major>/bin, 15 here), or
    those on the PATH."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if installed:
        return installed[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        raise RuntimeError("PostgreSQL's initdb is missing: `make test` installs it")
    return Path(on_path).parent


BIN = _bin_dir()
SYSTEM_USER = "postgres"
StopMode = Literal["immediate", "fast", "smart"]


class PrivatePostgres:
    """One PostgreSQL cluster: ``start()``, ``stop(mode)``, ``url(database)``, ``close()``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="miscomp-private-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
            self._as_owner = ["runuser", "-u", SYSTEM_USER, "--"]
        self._run(
            BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        self.running = False

    def _run(self, program: Path, *args: str) -> None:
        done = subprocess.run(
            [*self._as_owner, str(program), *args], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            said = done.stdout + done.stderr
            raise RuntimeError(f"{program.name} {' '.join(args)} failed:\n{said}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (after a crash, once it has
        replayed its log)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
            " -c max_connections=200"
        )
        data, log = str(self.data), str(self.log)
        self._run(BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-o", options, "start")
        self.running = True

    def stop(self, mode: StopMode = "immediate") -> None:
        """``immediate``: every server process quits at once, as in a crash (the next start
        recovers from the log); ``fast``: open sessions are ended and the server shuts down
        cleanly."""
        self._run(BIN / "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server, stopped and removed afterwards."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()
