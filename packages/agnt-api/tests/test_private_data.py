"""The embedded database is private (0600 in a 0700 directory) and errors never log data."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agnt_api.app import create_app
from agnt_api.db import Database
from agnt_api.db.migrate import upgrade
from agnt_api.settings import Settings

SECRET_PROMPT = "the buyer's confidential prompt 7f3a"
SECRET_PARAM = "confidential-param-9c1e"


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_embedded_database_is_0600_in_a_0700_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "agnt"
    app = create_app(Settings(data_dir=data_dir), run_reaper_task=False)
    database: Database = app.state.runtime.database
    try:
        upgrade(database.engine)
        database.transact(lambda c: c.execute(sa.text("SELECT 1")))
    finally:
        database.dispose()
    assert _mode(data_dir) == 0o700
    files = [data_dir / "agnt.db", *data_dir.glob("agnt.db-*")]
    assert files[0].exists()
    for path in files:
        assert _mode(path) == 0o600, path


@pytest.mark.usefixtures("umask_022")
def test_an_existing_world_readable_data_dir_and_database_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "agnt"
    data_dir.mkdir(mode=0o755)
    (data_dir / "agnt.db").touch(mode=0o644)
    app = create_app(Settings(data_dir=data_dir), run_reaper_task=False)
    app.state.runtime.database.dispose()
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "agnt.db") == 0o600


@pytest.mark.usefixtures("umask_022")
def test_a_database_outside_the_data_dir_keeps_its_existing_directory_mode(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    app = create_app(
        Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{shared / 'x.db'}"),
        run_reaper_task=False,
    )
    app.state.runtime.database.dispose()
    assert _mode(shared) == 0o755
    assert _mode(shared / "x.db") == 0o600


def _poison_orders(database: Database, sqlstate: str) -> None:
    """Make the database refuse an order whose prompt names the secret, quoting the row."""
    with database.engine.begin() as connection:
        if database.is_postgres:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_secret() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.prompt LIKE '%%confidential%%' THEN RAISE EXCEPTION 'refused row' "
                f"USING ERRCODE = '{sqlstate}', DETAIL = NEW.prompt || ' ' || NEW.params::text; "
                "END IF; RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_secret BEFORE INSERT ON jobs "
                "FOR EACH ROW EXECUTE FUNCTION refuse_secret()"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_secret BEFORE INSERT ON jobs "
                "WHEN NEW.prompt LIKE '%confidential%' "
                "BEGIN SELECT RAISE(ABORT, 'refused row'); END"
            )


_ON_POSTGRES = pytest.mark.postgres


@pytest.mark.parametrize(
    ("database_kind", "sqlstate", "status"),
    [
        # SQLite raises one kind of error from a trigger; Postgres any SQLSTATE.
        pytest.param("sqlite", "23514", 500, id="sqlite-integrity"),
        pytest.param("postgres", "23514", 500, id="postgres-integrity", marks=_ON_POSTGRES),
        pytest.param("postgres", "22000", 400, id="postgres-data", marks=_ON_POSTGRES),
        pytest.param("postgres", "57014", 503, id="postgres-operational", marks=_ON_POSTGRES),
    ],
    indirect=["database_kind"],
)
async def test_a_database_error_on_an_order_logs_neither_prompt_nor_params(
    api: Any, echo: Any, caplog: pytest.LogCaptureFixture, sqlstate: str, status: int
) -> None:
    database: Database = api.runtime.database
    _poison_orders(database, sqlstate)
    caplog.set_level(logging.DEBUG)
    response = await api.client.post(
        "/v1/jobs",
        headers=api.auth("buyer-a"),
        json={"agent_id": "echo", "prompt": SECRET_PROMPT, "params": {"count": 1}},
    )
    assert response.status_code == status
    assert SECRET_PROMPT not in response.text
    logged = (
        "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
        + caplog.text
    )
    assert "database" in logged or "dependency" in logged
    assert "confidential" not in logged
    assert "count" not in logged
