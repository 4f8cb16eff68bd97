"""The hub across a PostgreSQL restart (a crash, a failover, an upgrade at night): no request
after the first one fails, an idle pool is checked before use, and the one request that met
the dropped connection gets a 503 with Retry-After, not a 500 and a traceback.

Why these cases: the hub pings a pooled connection only after it sat idle
(``provisioning.hub.db.ping_after_idle``; pinging at every checkout cost a quarter of a hub's
time at fleet scale), so both paths a restart can take are shown here on a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from provisioning import schemas
from provisioning.hub import db as hub_db_module
from provisioning.hub.app import DB_RETRY_AFTER_S, create_app
from provisioning.hub.bootstrap import init_hub
from provisioning.hub.config import load_hub_settings
from provisioning.hub.db import Database
from provisioning.hub.service import HubService
from tests.support.postgres import PgServer, PostgresUnavailable, temporary_postgres

pytestmark = pytest.mark.slow


@pytest.fixture
def pg() -> Iterator[PgServer]:
    pytest.importorskip("psycopg")
    try:
        with temporary_postgres(fsync=False) as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def _one(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT 1")).scalar_one()


def test_an_idle_pool_is_pinged_and_renewed_after_a_restart(pg, monkeypatch):
    monkeypatch.setattr(hub_db_module, "PING_AFTER_IDLE_S", 0.0)  # every reuse counts as idle
    db = Database(pg.url)
    try:
        assert _one(db) == 1
        pg.restart()
        assert _one(db) == 1  # the ping found the dead connection; a new one answered
    finally:
        db.engine.dispose()


def test_a_busy_pool_fails_one_statement_then_reconnects(pg, monkeypatch):
    monkeypatch.setattr(hub_db_module, "PING_AFTER_IDLE_S", 3600.0)  # never idle: no ping
    db = Database(pg.url)
    try:
        assert _one(db) == 1
        pg.restart()
        with pytest.raises(sa.exc.DBAPIError) as failed:
            _one(db)
        assert failed.value.connection_invalidated
        assert [_one(db) for _ in range(3)] == [1, 1, 1]  # the whole pool was renewed
    finally:
        db.engine.dispose()


def test_the_request_that_meets_the_restart_gets_503_then_the_hub_answers(
    pg, monkeypatch, tmp_path: Path
):
    from fastapi.testclient import TestClient

    monkeypatch.setattr(hub_db_module, "PING_AFTER_IDLE_S", 3600.0)
    hub_dir = tmp_path / "hub"
    init_hub(hub_dir, name="restart")
    service = HubService(load_hub_settings(hub_dir, db_url=pg.url))
    app = create_app(service)
    body = b"not a certificate request"
    headers = {"Authorization": "Bearer unknown", "Content-Type": schemas.PKCS10_CONTENT_TYPE}
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            first = client.post(schemas.EST_SIMPLEENROLL, content=body, headers=headers)
            assert first.status_code == 401  # the database answered: an unknown token
            pg.restart()
            met = client.post(schemas.EST_SIMPLEENROLL, content=body, headers=headers)
            assert met.status_code == 503, met.text
            assert met.json()["error"]["code"] == "database_unavailable"
            assert met.headers["Retry-After"] == str(DB_RETRY_AFTER_S)
            assert "Cơ sở dữ liệu" in met.json()["error"]["message_vi"]
            again = client.post(schemas.EST_SIMPLEENROLL, content=body, headers=headers)
            assert again.status_code == 401, again.text
    finally:
        service.close()
