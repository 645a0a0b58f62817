"""Property tests of the job transition table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agnt_models import (
    LEASED,
    NOT_STARTED,
    REQUEUABLE,
    TERMINAL,
    TRANSITIONS,
    AgentPublish,
    JobStatus,
    JobTimeouts,
    can_transition,
    sources_of,
)

statuses = st.sampled_from(list(JobStatus))


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(JobStatus)


@given(statuses, statuses)
def test_no_way_out_of_a_terminal_state(current: JobStatus, target: JobStatus) -> None:
    if current in TERMINAL:
        assert not can_transition(current, target)


@given(statuses)
def test_every_non_terminal_state_reaches_a_terminal_one(start: JobStatus) -> None:
    seen = {start}
    frontier = [start]
    while frontier:
        here = frontier.pop()
        for nxt in TRANSITIONS[here]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen & TERMINAL


@given(statuses)
def test_no_status_moves_to_itself(status: JobStatus) -> None:
    assert not can_transition(status, status)


@given(statuses, statuses)
def test_sources_of_agrees_with_can_transition(current: JobStatus, target: JobStatus) -> None:
    assert (current in sources_of(target)) == can_transition(current, target)


def test_lifecycle_matches_the_design() -> None:
    assert TRANSITIONS[JobStatus.PENDING] == {"accepted", "rejected", "canceled"}
    assert TRANSITIONS[JobStatus.ACCEPTED] == {
        "running",
        "rejected",
        "failed",
        "canceled",
        "pending",
    }
    assert TRANSITIONS[JobStatus.RUNNING] == {"completed", "failed", "canceled", "pending"}
    assert {"rejected", "failed", "completed", "canceled"} == TERMINAL


def test_only_held_jobs_return_to_pending() -> None:
    assert sources_of(JobStatus.PENDING) == REQUEUABLE == LEASED


@given(statuses)
def test_a_requeued_job_can_end_every_way_a_new_one_can(held: JobStatus) -> None:
    # A requeue starts the job over: from pending again, every end is reachable.
    if held not in REQUEUABLE:
        return
    assert can_transition(held, JobStatus.PENDING)
    reachable = {JobStatus.PENDING}
    frontier = [JobStatus.PENDING]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()] - reachable:
            reachable.add(nxt)
            frontier.append(nxt)
    assert reachable >= TERMINAL | LEASED


@given(statuses)
def test_a_deadline_can_end_every_open_job(status: JobStatus) -> None:
    # The reaper cancels a job that never started and fails a running one.
    if status in TERMINAL:
        return
    target = JobStatus.CANCELED if status in NOT_STARTED else JobStatus.FAILED
    assert can_transition(status, target)


@given(st.floats(0.001, 1e6), st.floats(0.001, 1e6))
def test_an_agents_default_timeout_never_exceeds_its_max(default: float, limit: float) -> None:
    if default <= limit:
        assert JobTimeouts(default=default, max=limit).default == default
    else:
        with pytest.raises(ValidationError):
            AgentPublish(
                name="x",
                timeout_seconds=JobTimeouts.model_validate({"default": default, "max": limit}),
            )
