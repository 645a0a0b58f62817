"""What a job costs, read from the agent's pricing: an estimate on the agent page, the cost
on the job page.

Prices are integers of the currency's minor unit (cents); a per-second price times a
duration gives fractions of a cent, so amounts are computed in ``Decimal`` and rounded half
up to the cent (a positive amount under a cent reads ``< $0.01``). The job page uses the
agent's current pricing: jobs do not keep the price they were ordered at.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from agnt_api.errors import AgentNotFound
from agnt_api.runtime import Runtime
from agnt_api.services import agents
from agnt_api.web.display import duration, price
from agnt_models import TERMINAL, JobStatus, JobTimeouts, Pricing, PricingModel

_CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}
_CENT = Decimal("0.01")


def money(cents: Decimal | int, currency: str) -> str:
    """``$0.05``, ``12.00 CHF``, ``< $0.01``; ``cents`` in the currency's minor unit."""
    value = Decimal(cents) / 100
    below = 0 < value < _CENT
    whole = f"{(_CENT if below else value.quantize(_CENT, ROUND_HALF_UP)):,.2f}"
    sign = _CURRENCY_SIGNS.get(currency)
    text = f"{sign}{whole}" if sign else f"{whole} {currency}"
    return f"< {text}" if below else text


def _about(amount: str) -> str:
    return amount if amount.startswith("<") else f"≈ {amount}"


def is_priced(pricing: Pricing) -> bool:
    """Whether jobs of this pricing cost anything."""
    return pricing.model is not PricingModel.FREE and pricing.amount_cents > 0


def estimate(
    pricing: Pricing, timeouts: JobTimeouts | None = None, average_seconds: float | None = None
) -> str:
    """The agent page's estimate of one job's cost.

    Per job: the price. Per second: from the average duration so far (if any) up to the
    agent's time limit (the longest an order may ask for, else the default one).
    """
    if not is_priced(pricing):
        return "Free: jobs cost nothing."
    if pricing.model is PricingModel.PER_JOB:
        return f"≈ {money(pricing.amount_cents, pricing.currency)} per job, however long it runs."
    rate = Decimal(pricing.amount_cents)
    limit = None
    if timeouts is not None:
        limit = timeouts.max if timeouts.max is not None else timeouts.default
    average = None
    if average_seconds is not None and average_seconds > 0:
        average = money(rate * Decimal(str(average_seconds)), pricing.currency)
    if limit is not None:
        most = money(rate * Decimal(str(limit)), pricing.currency)
        which = "longest time limit" if timeouts and timeouts.max is not None else "time limit"
        if average is not None:
            return (
                f"{_about(average)} – {most} per job: {duration(average_seconds)} on average so far, "
                f"{duration(limit)} at most ({which})."
            )
        return f"≈ up to {most} per job: {duration(limit)} at most ({which})."
    if average is not None:
        return (
            f"{_about(average)} per job at the average duration so far ({duration(average_seconds)}); "
            "no time limit is published."
        )
    return f"{price(pricing)} of run time; no time limit is published."


def job_cost(pricing: Pricing, status: JobStatus, duration_seconds: float | None) -> str | None:
    """The job page's cost line; ``None`` for a free agent (nothing shown)."""
    if not is_priced(pricing):
        return None
    if status is JobStatus.COMPLETED:
        if pricing.model is PricingModel.PER_JOB:
            return money(pricing.amount_cents, pricing.currency)
        if duration_seconds is not None:
            cents = Decimal(pricing.amount_cents) * Decimal(str(duration_seconds))
            return f"{money(cents, pricing.currency)} ({duration(duration_seconds)} at {price(pricing)})"
        return f"— ({price(pricing)}; the run time is unknown)"
    if status in TERMINAL:
        return f"— (not completed; {price(pricing)})"
    return f"{price(pricing)}, once it completes"


async def job_cost_of(
    rt: Runtime, agent_id: str, status: JobStatus, seconds: float | None
) -> str | None:
    """``job_cost`` with the agent's current pricing (``None`` if the agent is gone)."""
    try:
        agent = await rt.database.run(agents.get_agent, agent_id)
    except AgentNotFound:
        return None
    return job_cost(agent.pricing, status, seconds)
