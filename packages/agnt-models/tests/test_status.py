"""Property tests of the job transition table."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agnt_models import TERMINAL, TRANSITIONS, JobStatus, can_transition, sources_of

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
    assert TRANSITIONS[JobStatus.ACCEPTED] == {"running", "rejected", "failed", "canceled"}
    assert TRANSITIONS[JobStatus.RUNNING] == {"completed", "failed", "canceled"}
    assert {"rejected", "failed", "completed", "canceled"} == TERMINAL


def test_nothing_returns_to_pending() -> None:
    assert sources_of(JobStatus.PENDING) == frozenset()
