"""Say what is wrong with the configured database, in words a user can act on.

:func:`check_url` refuses a URL fleet cannot use before any driver is loaded;
:func:`sqlite_file` names the file of a SQLite URL (so callers can refuse to
create one by accident); :func:`explain` turns a driver's exception (a missing
table, a refused connection, a missing database) into a ``FleetError`` that
names the host, the database and what to check. Nothing here connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from fleet.errors import ConfigError, FleetError, StoreNotReady, StoreUnavailable

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
EXAMPLES = "sqlite:///dev.sqlite or postgresql://USER:PASSWORD@HOST:5432/DATABASE"

# Words of the drivers' messages (sqlite3, psycopg) and what they mean.
_NOT_READY = ("no such table", "no such column", "undefinedtable", "undefinedcolumn")
_NOT_READY_PG = ("relation \"", "column \"")
_AUTH = ("password authentication failed", "no password supplied", "role \"")
_NO_DATABASE = ("database \"",)
_UNREACHABLE = ("connection refused", "could not translate host name", "timeout expired",
                "no route to host", "network is unreachable", "name or service not known",
                "connection timed out", "server closed the connection",
                "could not connect", "no such file or directory", "connection failed")


@dataclass(frozen=True)
class Target:
    """Where a database URL points, without its password."""

    backend: str
    host: str
    port: int | None
    database: str

    def describe(self) -> str:
        """``PostgreSQL database 'fleet' on db.example:5432`` or ``SQLite file /x/dev.sqlite``."""
        if self.backend == "sqlite":
            return f"SQLite file {self.database}"
        where = self.host + (f":{self.port}" if self.port else "")
        return f"PostgreSQL database '{self.database}' on {where}"


def parse(database_url: str) -> URL:
    """The parsed URL, or ConfigError naming FLEET_DATABASE_URL and the accepted forms."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(
            "FLEET_DATABASE_URL is not a database URL; expected "
            f"{EXAMPLES}") from None
    return url


def check_url(database_url: str) -> Target:
    """Refuse a URL of a database fleet does not support (``mysql://``...); where it points."""
    url = parse(database_url)
    backend = url.get_backend_name()
    if backend == "postgres":
        backend = "postgresql"
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"FLEET_DATABASE_URL uses '{url.drivername}://', which fleet does not support; "
            f"fleet stores its data in SQLite or PostgreSQL, e.g. {EXAMPLES}")
    if backend == "sqlite":
        path = sqlite_file(database_url)
        return Target("sqlite", "", None, str(path.resolve()) if path else ":memory:")
    host = url.host or str(url.query.get("host") or "localhost (Unix socket)")
    return Target("postgresql", host, url.port, url.database or url.username or "")


def sqlite_file(database_url: str) -> Path | None:
    """The file of a ``sqlite:///FILE`` URL; None for in-memory SQLite and other databases."""
    url = parse(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):
        return None  # a URI filename: leave it to SQLite
    return Path(url.database)


def missing_sqlite(database_url: str) -> StoreNotReady | None:
    """StoreNotReady when the URL names a SQLite file that does not exist, else None."""
    path = sqlite_file(database_url)
    if path is None or path.exists():
        return None
    return StoreNotReady(
        f"there is no database at {path.resolve()} (FLEET_DATABASE_URL={database_url}); "
        "create it with `fleet db upgrade`, or point FLEET_DATABASE_URL at your database")


def _driver_text(exc: BaseException) -> tuple[str, str]:
    """The driver exception's class name and first line (``OperationalError``, ``...``)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return type(orig).__name__, (lines[0] if lines else "")


def explain(exc: BaseException, database_url: str) -> FleetError | None:
    """A FleetError saying what ``exc`` (raised by the database driver) means, or None."""
    try:
        target = check_url(database_url)
    except ConfigError as bad:
        return bad
    name, first = _driver_text(exc)
    text = f"{name} {first}".lower()
    where = target.describe()
    if any(w in text for w in _NOT_READY) or (
            target.backend == "postgresql" and "does not exist" in text
            and any(first.lower().startswith(w) for w in _NOT_READY_PG)):
        return StoreNotReady(
            f"the {where} is not initialised or is behind this version of fleet ({first}); "
            "run `fleet db upgrade`")
    if target.backend == "sqlite":
        if "unable to open database file" in text:
            return StoreUnavailable(
                f"cannot open the {where}: check that its directory exists and is writable "
                "(FLEET_DATABASE_URL)")
        if "database is locked" in text:
            return StoreUnavailable(
                f"the {where} is locked by another process; try again, or raise "
                "FLEET_SQLITE_BUSY_TIMEOUT_MS")
        if "file is not a database" in text:
            return StoreUnavailable(f"the {where} is not a SQLite database; point "
                                    "FLEET_DATABASE_URL at another file")
        return None
    if any(w in text for w in _NO_DATABASE) and "does not exist" in text:
        return StoreUnavailable(
            f"the {where} does not exist; create it (e.g. `createdb -h {target.host} "
            f"{target.database}`), then run `fleet db upgrade`, or fix the database name "
            "in FLEET_DATABASE_URL")
    if any(w in text for w in _AUTH):
        return StoreUnavailable(
            f"the server refused the credentials for the {where} ({first}); check the user "
            "and password in FLEET_DATABASE_URL")
    if any(w in text for w in _UNREACHABLE):
        return StoreUnavailable(
            f"cannot reach the {where} ({first}); check that the server is running and "
            "accepts connections on that host and port, and the host and port in "
            "FLEET_DATABASE_URL")
    return None
