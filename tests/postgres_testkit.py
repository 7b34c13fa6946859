"""PostgreSQL for the tests: a database per test run and a fresh schema per test (shared fixtures).

PostgreSQL: ``LORAFLEET_TEST_POSTGRES_URL`` (a database the role may CREATE SCHEMA in) is used
when set. Otherwise the local cluster is started (``pg_ctlcluster 15 main start``), a password
role ``lorafleet_test`` (CREATEDB) is ensured through ``su postgres -c psql`` (peer auth), and a
fresh database is created for this test run and dropped at its end. Each test gets its own
schema in that database. When no server can be had the postgres tests are skipped, unless
``LORAFLEET_REQUIRE_POSTGRES=1`` (CI), which turns that into an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

PG_ROLE = "lorafleet_test"
PG_PASSWORD = "lorafleet_test"


def _psql(sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["su", "postgres", "-c", f"psql -v ON_ERROR_STOP=1 -qAt -c \"{sql}\""],
                          capture_output=True, text=True, timeout=60)


def _start_local_postgres() -> str:
    """Start the local cluster and ensure the test role; returns an admin URL or raises."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("su") is None:
        raise RuntimeError("no local PostgreSQL (pg_ctlcluster not found); set LORAFLEET_TEST_POSTGRES_URL")
    if os.geteuid() != 0:
        raise RuntimeError("starting the local cluster needs root; set LORAFLEET_TEST_POSTGRES_URL instead")
    status = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True)
    if "online" not in status.stdout:
        started = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"],
                                 capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctlcluster start failed: {started.stderr.strip()}")
    role = _psql(
        f"DO \\$\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_ROLE}') THEN "
        f"CREATE ROLE {PG_ROLE} LOGIN CREATEDB PASSWORD '{PG_PASSWORD}'; END IF; END \\$\\$;")
    if role.returncode != 0:
        raise RuntimeError(f"cannot create role {PG_ROLE}: {role.stderr.strip()}")
    return f"postgresql+psycopg://{PG_ROLE}:{PG_PASSWORD}@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """URL of a PostgreSQL database for this test run (see module docstring)."""
    import sqlalchemy as sa

    env_url = os.environ.get("LORAFLEET_TEST_POSTGRES_URL")
    if env_url:
        yield env_url
        return
    try:
        admin_url = _start_local_postgres()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("LORAFLEET_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    db = f"lorafleet_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + db
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_database_url: str) -> Iterator[str]:
    """A fresh, empty schema per test, selected through the connection's search_path."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    # pre-ping: pooled connections outlive a server restart (test_inference_registry_outage.py)
    engine = sa.create_engine(postgres_database_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres_database_url else "?"
    try:
        yield f"{postgres_database_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()
