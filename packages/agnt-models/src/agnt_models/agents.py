"""Agents: what an executor publishes and what a buyer finds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, model_validator
from pydantic.types import UUID4

from agnt_models.accept import AcceptRules
from agnt_models.common import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    AgentId,
    JsonObject,
    Tags,
    WireModel,
)
from agnt_models.inputs import InputFilesRule
from agnt_models.jobs import TimeoutSeconds
from agnt_models.status import DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT


class PricingModel(StrEnum):
    """How an agent charges for a job."""

    FREE = "free"
    PER_JOB = "per_job"
    PER_SECOND = "per_second"


class Pricing(WireModel):
    """An agent's price: an amount in the currency's minor unit (cents) per job or per second."""

    model: PricingModel = PricingModel.FREE
    amount_cents: int = Field(default=0, ge=0, le=100_000_000)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_CHARS)
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS)]


class JobTimeouts(WireModel):
    """An agent's job deadlines (``AgentPublish.timeout_seconds``), seconds from the order.

    ``default`` applies to an order without ``timeout_seconds``; an order asking for more
    than ``max`` is refused (422). Null: no default deadline, no upper bound.
    """

    default: TimeoutSeconds | None = None
    max: TimeoutSeconds | None = None

    @model_validator(mode="after")
    def _default_within_max(self) -> JobTimeouts:
        if self.default is not None and self.max is not None and self.default > self.max:
            raise ValueError("timeout_seconds.default is larger than timeout_seconds.max")
        return self


def _any_object_schema() -> JsonObject:
    return {"type": "object"}


class AgentPublish(WireModel):
    """Body of ``PUT /v1/executor/agents/{agent_id}``: create or update an agent one owns.

    ``input_schema`` is the JSON Schema that a job's ``params`` must satisfy;
    ``output_schema`` describes the result files (informational). ``accept_rules`` are the
    executor's own limits (prompt size, param ranges, allowed values): the API refuses an
    order that breaks them (``order_refused``) with the executor's reason.
    """

    name: Name
    description: Description = ""
    tags: Tags = Field(default_factory=list)
    pricing: Pricing = Field(default_factory=Pricing)
    input_schema: JsonObject = Field(default_factory=_any_object_schema)
    output_schema: JsonObject = Field(default_factory=dict)
    accept_rules: AcceptRules | None = Field(
        default=None, description="The executor's accept rules; null: none published."
    )
    timeout_seconds: JobTimeouts = Field(default_factory=JobTimeouts)
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS,
        ge=1,
        le=MAX_ATTEMPTS_LIMIT,
        description="Runs of a job before a lost lease or a release fails it.",
    )
    retry_on_failure: bool = Field(
        default=False,
        description="Requeue a job whose handler failed, while attempts are left.",
    )
    input_files: InputFilesRule | None = Field(
        default=None,
        description="The input files a job may carry; null: no rule (the API's limits only).",
    )


class Agent(AgentPublish):
    """An agent as the API returns it (``GET /v1/agents/{agent_id}``).

    ``online``: an executor serving the agent was seen (claiming or watching jobs) within
    two lease periods; orders to an offline agent wait until one comes. ``published``:
    false once its owner unpublished it (hidden from search, orders refused).
    """

    id: AgentId
    owner_id: UUID4
    created_at: AwareDatetime
    updated_at: AwareDatetime
    published: bool = True
    online: bool = False
    last_seen_at: AwareDatetime | None = None


class AgentSummary(WireModel):
    """One search hit: enough to show a card and decide to open the agent."""

    id: AgentId
    name: str
    description: str
    tags: list[str]
    pricing: Pricing
    score: float | None = Field(default=None, description="Relevance; higher is better.")
    online: bool = False
    last_seen_at: AwareDatetime | None = None


class SearchSort(StrEnum):
    """Order of search results; every order ends with the agent id, so pages are stable.

    ``relevance``: best score first (browsing without words: by name); ``popular``: most
    jobs completed in the last 30 days first; ``newest``: latest published first;
    ``price``: cheapest ``amount_cents`` first.
    """

    RELEVANCE = "relevance"
    POPULAR = "popular"
    NEWEST = "newest"
    PRICE = "price"


class TagCount(WireModel):
    """How many of all a search's matches carry ``tag``."""

    tag: str
    count: int


class AgentSearchPage(WireModel):
    """A page of ``GET /v1/agents/search``; pass ``next_cursor`` back as ``cursor``.

    ``facets``: the 20 most frequent tags over all matches (not only this page), most
    frequent first; present when asked for (``facets=true``), the same on every page.
    """

    items: list[AgentSummary]
    next_cursor: str | None = None
    facets: list[TagCount] | None = None


class AgentStats(WireModel):
    """Counts of an agent's jobs by outcome.

    ``success_rate`` counts only jobs that ran: completed / (completed + failed), null before
    any of those (rejected and canceled jobs never ran; they have their own counts);
    ``avg_duration_seconds`` averages completed jobs' durations.
    """

    agent_id: AgentId
    total: int = Field(ge=0)
    pending: int = Field(ge=0)
    in_progress: int = Field(ge=0, description="Accepted or running.")
    completed: int = Field(ge=0)
    failed: int = Field(ge=0)
    rejected: int = Field(ge=0)
    canceled: int = Field(ge=0)
    success_rate: float | None = Field(
        default=None, ge=0, le=1, description="completed / (completed + failed): jobs that ran."
    )
    avg_duration_seconds: float | None = Field(default=None, ge=0)
