"""Throwaway PostgreSQL and Redis servers for tests and benchmarks.

Each server runs on 127.0.0.1 on a free port, with its data in a temporary
directory, and is stopped (and its directory removed) by ``stop()``.
``FLEET_TEST_POSTGRES_URL`` / ``FLEET_TEST_REDIS_URL`` name existing servers
instead; a fresh database is then created on the given PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fleet.errors import ServerUnavailable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _pg_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class PostgresServer:
    """A PostgreSQL database for one test session or benchmark."""

    url: str
    admin_url: str
    dbname: str
    datadir: Path | None = None
    bindir: Path | None = None
    _as_user: list[str] = field(default_factory=list)
    _opts: str = ""
    port: int = 0

    @property
    def managed(self) -> bool:
        """Whether this object started the server (and so may stop and restart it)."""
        return self.datadir is not None

    def halt(self) -> None:
        """Stop the server, keeping its data (an outage); :meth:`resume` starts it again."""
        assert self.managed and self.bindir is not None, "only a throwaway server can halt"
        subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                        "-m", "fast", "-w", "stop"], capture_output=True, check=False)

    def resume(self) -> None:
        """Start a halted server again on the same port and data."""
        assert self.managed and self.bindir is not None and self.datadir is not None
        result = subprocess.run(
            [*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o",
             self._opts, "-l", str(self.datadir.parent / "log"), "-w", "-t", "60", "start"],
            capture_output=True, text=True, check=False)
        if result.returncode != 0 or not _wait_port(self.port, 30):
            raise ServerUnavailable(f"pg_ctl start failed: {result.stderr.strip()}")

    def stop(self) -> None:
        """Drop the database, or stop the throwaway server and remove its files."""
        if self.datadir is None:
            _drop_database(self.admin_url, self.dbname)
            return
        assert self.bindir is not None
        subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                        "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def start_postgres(max_connections: int = 200, *, own: bool = False) -> PostgresServer:
    """A fresh PostgreSQL database: on ``FLEET_TEST_POSTGRES_URL``, or a new server.

    ``own=True`` always starts a throwaway server (a test that stops it needs one).
    """
    name = f"fleet_test_{uuid.uuid4().hex[:10]}"
    given = None if own else os.environ.get("FLEET_TEST_POSTGRES_URL")
    if given:
        import psycopg

        try:
            _create_database(given, name)
        except psycopg.Error as exc:
            raise ServerUnavailable(
                f"FLEET_TEST_POSTGRES_URL is set but unusable ({type(exc).__name__}): "
                "check that the server runs and the user may create databases"
            ) from exc
        return PostgresServer(url=_with_db(given, name), admin_url=given, dbname=name)
    bindir = _pg_bindir()
    if bindir is None:
        raise ServerUnavailable(
            "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's 'postgresql' "
            "package or set FLEET_TEST_POSTGRES_URL"
        )
    root = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sockdir, "postgres")
    port = free_port()
    init = subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--no-sync"],
        capture_output=True, text=True, check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    opts = (f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={max_connections} -c shared_buffers=128MB")
    start = subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l",
         str(root / "log"), "-w", "-t", "60", "start"],
        capture_output=True, text=True, check=False,
    )
    if start.returncode != 0 or not _wait_port(port, 30):
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"pg_ctl start failed: {start.stderr.strip()} {log[-500:]}")
    admin = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    _create_database(admin, name)
    return PostgresServer(url=_with_db(admin, name), admin_url=admin, dbname=name,
                          datadir=datadir, bindir=bindir, _as_user=as_user, _opts=opts,
                          port=port)


@dataclass
class RedisServer:
    """A Redis server for one test session or benchmark; can be stopped and restarted."""

    url: str
    port: int
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def managed(self) -> bool:
        """Whether this object started the server (and so may stop and restart it)."""
        return self.workdir is not None

    def start(self) -> None:
        """(Re)start the server on its port."""
        if not self.managed or (self.proc and self.proc.poll() is None):
            return
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServerUnavailable("redis-server not found: install Debian's 'redis-server'")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not _wait_port(self.port, 15):
            raise ServerUnavailable(f"redis-server did not listen on port {self.port}")

    def stop(self) -> None:
        """Stop the server (a managed one only)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        """Stop the server and remove its files."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis() -> RedisServer:
    """A Redis: ``FLEET_TEST_REDIS_URL``, or a new throwaway ``redis-server``."""
    given = os.environ.get("FLEET_TEST_REDIS_URL")
    if given:
        import redis

        client = redis.Redis.from_url(given, socket_connect_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServerUnavailable(
                f"FLEET_TEST_REDIS_URL is set but unreachable ({type(exc).__name__})"
            ) from exc
        finally:
            client.close()
        return RedisServer(url=given, port=0)
    if shutil.which("redis-server") is None:
        raise ServerUnavailable(
            "redis-server not found: install Debian's 'redis-server' or set FLEET_TEST_REDIS_URL"
        )
    port = free_port()
    server = RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port,
                         workdir=Path(tempfile.mkdtemp(prefix="fleet-redis-")))
    server.start()
    return server
