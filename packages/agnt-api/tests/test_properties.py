"""Property tests: cursors, byte ranges and the job lifecycle hold for any input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agnt_api.api.routes.files import parse_range
from agnt_api.auth import Principal
from agnt_api.db.tables import jobs as jobs_table
from agnt_api.errors import ApiError, InvalidCursor, RangeNotSatisfiable
from agnt_api.services.cursors import decode_cursor, encode_cursor
from agnt_models import (
    LEASED,
    AgentPublish,
    Job,
    JobCreate,
    JobStatus,
    Role,
    can_transition,
)

positions = st.dictionaries(
    st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=20)), max_size=3
)


@given(kind=st.text(max_size=10), query=st.text(max_size=10), position=positions)
def test_a_cursor_decodes_to_its_position_for_its_own_listing(
    kind: str, query: str, position: dict[str, object]
) -> None:
    cursor = encode_cursor(kind, query, position)
    assert decode_cursor(cursor, kind, query) == position
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, kind + "x", query)


@given(garbage=st.text(max_size=60))
def test_any_garbage_cursor_is_invalid_cursor_never_a_crash(garbage: str) -> None:
    with contextlib.suppress(InvalidCursor):
        decode_cursor(garbage, "jobs", "q")


@given(size=st.integers(1, 10_000), first=st.integers(0, 12_000), last=st.integers(0, 12_000))
def test_a_satisfiable_range_selects_what_slicing_selects(size: int, first: int, last: int) -> None:
    data = range(size)
    try:
        span = parse_range(f"bytes={first}-{last}", size)
    except RangeNotSatisfiable:
        assert first >= size or last < first
        return
    assert span is not None
    start, end = span
    assert list(data[start : end + 1]) == list(data[first : last + 1])


@given(size=st.integers(1, 10_000), suffix=st.integers(1, 20_000))
def test_a_suffix_range_selects_the_last_bytes(size: int, suffix: int) -> None:
    assert parse_range(f"bytes=-{suffix}", size) == (max(size - suffix, 0), size - 1)


@given(header=st.text(max_size=30))
def test_any_range_header_parses_or_is_refused_cleanly(header: str) -> None:
    with contextlib.suppress(RangeNotSatisfiable):
        parse_range(header, 100)


@given(
    first=st.integers(0, 6_000).map(lambda n: "9" * n),
    last=st.integers(0, 6_000).map(lambda n: "7" * n),
    zeros=st.integers(0, 30),
)
def test_a_range_of_any_number_of_digits_parses_or_is_refused_cleanly(
    first: str, last: str, zeros: int
) -> None:
    try:
        span = parse_range(f"bytes={'0' * zeros}{first}-{last}", 100)
    except RangeNotSatisfiable:
        return
    assert span is None or 0 <= span[0] <= span[1] <= 99


# --- The job lifecycle on a real database: any sequence of moves obeys the table ---------

LIFECYCLE_MOVES = st.lists(
    st.sampled_from(["claim", "start", "fail", "release", "lose_lease", "deadline", "cancel"]),
    max_size=12,
)


@pytest.fixture(scope="module")
def lifecycle_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LifecycleDb]:
    """A migrated SQLite database with a buyer, an executor and two agents."""
    from agnt_api.db import Database
    from agnt_api.db.migrate import upgrade
    from agnt_api.services import agents, keys

    database = Database(f"sqlite:///{tmp_path_factory.mktemp('lifecycle') / 'agnt.db'}")
    upgrade(database.engine)
    buyer = database.transact_write(keys.create_key, Role.BUYER, "buyer", None)
    executor = database.transact_write(keys.create_key, Role.EXECUTOR, "executor", None)
    owner = Principal(id=executor.principal_id, role=Role.EXECUTOR, name="executor")
    for agent_id, retry in (("plain", False), ("retrying", True)):
        body = AgentPublish(name=agent_id, max_attempts=3, retry_on_failure=retry)
        database.transact_write(agents.publish_agent, owner, agent_id, body)
    yield LifecycleDb(
        database, Principal(id=buyer.principal_id, role=Role.BUYER, name="buyer"), owner
    )
    database.dispose()


@dataclass
class LifecycleDb:
    """The database of ``lifecycle_db`` and its two principals."""

    database: Any
    buyer: Principal
    executor: Principal


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=LIFECYCLE_MOVES, retrying=st.booleans())
def test_any_sequence_of_moves_follows_the_table_and_counts_attempts(
    lifecycle_db: LifecycleDb, moves: list[str], retrying: bool
) -> None:
    from agnt_api.services import jobs as job_service
    from agnt_api.services.leases import reap
    from agnt_api.services.transitions import (
        apply_report,
        buyer_scope,
        claim_pending,
        executor_scope,
        move_job,
        release_job,
    )

    db, buyer, executor = lifecycle_db.database, lifecycle_db.buyer, lifecycle_db.executor
    body = JobCreate(agent_id="retrying" if retrying else "plain", prompt="p")

    def order(connection: sa.Connection) -> Job:
        target, _ = job_service.read_order_target(connection, buyer, body, None)
        return job_service.create_job(connection, buyer, body, None, target)[0]

    job = db.transact_write(order)
    scope = executor_scope(executor)

    def move(connection: sa.Connection, name: str) -> None:
        held = job_service.get_job(connection, buyer, job.id)
        with contextlib.suppress(ApiError):
            if name == "claim":
                claim_pending(
                    connection,
                    executor,
                    limit=1,
                    agent_ids=None,
                    job_ids=[job.id],
                    lease_seconds=60,
                )
            elif name == "start":
                apply_report(
                    connection,
                    job.id,
                    JobStatus.RUNNING,
                    scope,
                    lease_seconds=60,
                    attempt=held.attempt,
                )
            elif name == "fail":
                apply_report(
                    connection,
                    job.id,
                    JobStatus.FAILED,
                    scope,
                    lease_seconds=60,
                    reason="boom",
                    attempt=held.attempt,
                )
            elif name == "release":
                release_job(connection, job.id, scope, reason="released", attempt=held.attempt)
            elif name == "cancel":
                move_job(
                    connection, job.id, JobStatus.CANCELED, buyer_scope(buyer), lease_seconds=60
                )
            else:
                column = "lease_expires_at" if name == "lose_lease" else "deadline_at"
                past = datetime.now(UTC) - timedelta(seconds=1)
                connection.execute(
                    sa.update(jobs_table).where(jobs_table.c.id == job.id).values({column: past})
                )
                reap(connection)

    before = job
    for name in moves:
        db.transact_write(move, name)
        after = db.transact(job_service.get_job, buyer, job.id)
        if after.status is not before.status:
            assert can_transition(before.status, after.status), (name, before.status, after)
        if after.status is JobStatus.PENDING and before.status is not JobStatus.PENDING:
            assert after.attempt == before.attempt + 1
        else:
            assert after.attempt == before.attempt
        assert 1 <= after.attempt <= after.max_attempts == 3
        if name == "fail" and before.status in LEASED and not retrying:
            assert after.status is JobStatus.FAILED
        before = after
