"""The in-process hub's exclusive wakes at the edges of a long-poll: a wake that arrives
during the attempt made at the deadline is handed on (the job it announced is not left for
a later order to wake someone), and a shutdown answers every poller at once without
handing anything on."""

from __future__ import annotations

import asyncio

from agnt_api.notify import Notifier, long_poll

TOPIC = "agent:a"


def _nothing(result: list[str]) -> bool:
    return bool(result)


async def _poll_once_more_at_the_deadline(notifier: Notifier, wake_in_last: bool) -> int:
    """A claimer long-polling 0.2 s: the attempt made at its deadline may see a job
    committed while it reads (``wake_in_last``). How many attempts it made."""
    calls = 0

    async def attempt() -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 2 and wake_in_last:
            notifier.committed([TOPIC])  # a job arrives after this attempt read the queue
        return []

    await long_poll(notifier, [TOPIC], 0.2, attempt, _nothing, exclusive=True)
    return calls


async def test_a_wake_during_the_attempt_at_the_deadline_is_handed_on() -> None:
    notifier = Notifier()
    first = asyncio.create_task(_poll_once_more_at_the_deadline(notifier, wake_in_last=True))
    await asyncio.sleep(0.05)  # the first claimer subscribed first (the oldest)
    async with notifier.subscribe([TOPIC], exclusive=True) as second:
        # The second claimer is between two polls (subscribed, not waiting): the job's wake
        # goes to the oldest, which leaves at its deadline; it must pass the wake on.
        assert await first == 2
        assert second.woken


async def test_a_claimer_that_leaves_without_a_wake_hands_nothing_on() -> None:
    notifier = Notifier()
    first = asyncio.create_task(_poll_once_more_at_the_deadline(notifier, wake_in_last=False))
    await asyncio.sleep(0.05)
    async with notifier.subscribe([TOPIC], exclusive=True) as second:
        assert await first == 2
        assert not second.woken


async def test_a_shutdown_answers_every_claimer_at_once_and_hands_nothing_on() -> None:
    notifier = Notifier()
    attempts = 0

    async def attempt() -> list[str]:
        nonlocal attempts
        attempts += 1
        return []

    pollers = [
        asyncio.create_task(long_poll(notifier, [TOPIC], 30, attempt, _nothing, exclusive=True))
        for _ in range(3)
    ]
    await asyncio.sleep(0.05)
    assert attempts == 3  # each attempted once and waits
    notifier.stop_waiting()
    # Subscribed before the woken pollers run (nothing here yields to the loop).
    async with notifier.subscribe([TOPIC], exclusive=True) as late:
        async with asyncio.timeout(2):
            assert await asyncio.gather(*pollers) == [[], [], []]
        assert attempts == 6  # each answered the state after the wake, once
        assert not late.woken  # the leaving pollers did not hand their wakes on
    # A long-poll that starts during the shutdown attempts once and answers.
    async with asyncio.timeout(2):
        assert await long_poll(notifier, [TOPIC], 30, attempt, _nothing, exclusive=True) == []
    assert attempts == 7
