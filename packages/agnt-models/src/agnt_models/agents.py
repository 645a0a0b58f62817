"""Agents: what an executor publishes and what a buyer finds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints
from pydantic.types import UUID4

from agnt_models.common import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    AgentId,
    JsonObject,
    Tags,
    WireModel,
)
from agnt_models.inputs import InputFilesRule


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


def _any_object_schema() -> JsonObject:
    return {"type": "object"}


class AgentPublish(WireModel):
    """Body of ``PUT /v1/executor/agents/{agent_id}``: create or update an agent one owns.

    ``input_schema`` is the JSON Schema that a job's ``params`` must satisfy;
    ``output_schema`` describes the result files (informational).
    """

    name: Name
    description: Description = ""
    tags: Tags = Field(default_factory=list)
    pricing: Pricing = Field(default_factory=Pricing)
    input_schema: JsonObject = Field(default_factory=_any_object_schema)
    output_schema: JsonObject = Field(default_factory=dict)
    input_files: InputFilesRule | None = Field(
        default=None,
        description="The input files a job may carry; null: no rule (the API's limits only).",
    )


class Agent(AgentPublish):
    """An agent as the API returns it (``GET /v1/agents/{agent_id}``)."""

    id: AgentId
    owner_id: UUID4
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentSummary(WireModel):
    """One search hit: enough to show a card and decide to open the agent."""

    id: AgentId
    name: str
    description: str
    tags: list[str]
    pricing: Pricing
    score: float | None = Field(default=None, description="Relevance; higher is better.")


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

    ``success_rate`` is completed / (completed + failed + rejected), null before any of those;
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
    success_rate: float | None = Field(default=None, ge=0, le=1)
    avg_duration_seconds: float | None = Field(default=None, ge=0)
