"""Engine set-up and the two kinds of transactions the registry uses.

SQLite (default, one file shared by several processes):
  * WAL journal so readers never block the writer and vice versa;
  * ``busy_timeout`` so a process waiting for the write lock sleeps instead of failing;
  * write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two
    read-modify-write transactions (allocate the next version, move an alias) cannot both read
    the old value. A deferred transaction that later upgrades to a writer can fail with
    SQLITE_BUSY without waiting, which is exactly the race we avoid. Reads use plain ``BEGIN``.
  * pysqlite's own implicit transaction handling is switched off (``isolation_level=None``) so
    the BEGIN we emit is the one in effect (SQLAlchemy's documented recipe).

PostgreSQL: read-modify-write transactions lock the row they depend on with
``SELECT ... FOR UPDATE`` (the ``adapter_names`` row for versions and aliases), so concurrent
writers of one name queue behind each other; unique constraints back this up.

Outages (a restarted PostgreSQL server, killed backends, a SQLite file locked past the busy
timeout): pooled connections are checked before use (``pool_pre_ping``); a write transaction that
cannot get a connection retries with exponential backoff for up to ``CONNECT_RETRY_S`` (nothing was
sent yet, so a retry cannot write twice); any connection error, then or inside a transaction (which
the database rolls back whole), is raised as ``Unavailable``, so a caller sees UNAVAILABLE and may
retry, never INTERNAL. Reads do not wait: a reader with a fallback (inference's alias cache) uses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Connection, Engine, make_url

from lorafleet.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 60_000
#: How long a write transaction retries getting a connection (e.g. while PostgreSQL restarts).
CONNECT_RETRY_S = 5.0
_FIRST_BACKOFF_S = 0.05
_WRITE = "lorafleet_write"
_CONNECTION_ERRORS = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)


def make_engine(database_url: str) -> Engine:
    """Create an engine for ``database_url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    try:
        url = make_url(database_url)
    except Exception as exc:
        raise InvalidArgument(f"{database_url!r} is not a SQLAlchemy URL: {exc}", field="database_url") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_hooks(engine)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise InvalidArgument(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://",
                          field="database_url")


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached (as opposed to a bad statement)."""
    return isinstance(error, _CONNECTION_ERRORS) or bool(getattr(error, "connection_invalidated", False))


def unavailable(error: BaseException) -> Unavailable:
    return Unavailable(f"the registry database is unavailable ({type(error).__name__}); retry", field="registry")


def _connect(engine: Engine, retry_s: float) -> Connection:
    """A connection, retried with exponential backoff for ``retry_s`` seconds; Unavailable after that."""
    deadline = time.monotonic() + retry_s
    backoff = _FIRST_BACKOFF_S
    while True:
        try:
            return engine.connect()
        except exc.SQLAlchemyError as error:
            if not is_connection_error(error):
                raise
            if time.monotonic() + backoff > deadline:
                raise unavailable(error) from error
            log.warning("registry database unreachable; retrying",
                        extra={"error": type(error).__name__, "backoff_s": backoff})
        time.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


@contextmanager
def _transaction(engine: Engine, *, write: bool, retry_s: float) -> Iterator[Connection]:
    try:
        with _connect(engine, retry_s) as conn:
            if write:
                conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn
    except exc.SQLAlchemyError as error:
        if is_connection_error(error):
            raise unavailable(error) from error
        raise


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: holds the SQLite write lock from its first statement."""
    with _transaction(engine, write=True, retry_s=CONNECT_RETRY_S) as conn:
        yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot, never blocks writers under WAL."""
    with _transaction(engine, write=False, retry_s=0.0) as conn:
        yield conn
