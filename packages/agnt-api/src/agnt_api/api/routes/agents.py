"""Finding agents: search, details, stats (any authenticated caller)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from agnt_api.api.deps import AnyPrincipal, RuntimeDep
from agnt_api.ratelimit import RATE_LIMITED_RESPONSES, RateAction, RateLimit
from agnt_api.services import buyer
from agnt_models import (
    AGENT_ID_PATTERN,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Agent,
    AgentSearchPage,
    AgentStats,
    PricingModel,
    SearchSort,
)

router = APIRouter(prefix="/v1/agents", tags=["agents"])

AgentIdPath = Annotated[str, Path(pattern=AGENT_ID_PATTERN, description="The agent's slug.")]


@router.get(
    "/search",
    response_model=AgentSearchPage,
    dependencies=[Depends(RateLimit(RateAction.SEARCHES))],
    responses=RATE_LIMITED_RESPONSES,
)
async def search_agents(
    rt: RuntimeDep,
    _caller: AnyPrincipal,
    q: Annotated[str, Query(max_length=500, description="Words to find.")] = "",
    tag: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    sort: Annotated[SearchSort, Query(description="Order of the results.")] = (
        SearchSort.RELEVANCE
    ),
    pricing: Annotated[PricingModel | None, Query(description="Only this price model.")] = None,
    facets: Annotated[
        bool, Query(description="First page: tag counts over all matches (top 20).")
    ] = False,
    online: Annotated[
        bool, Query(description="Only agents an executor serves now (seen lately).")
    ] = False,
) -> AgentSearchPage:
    """Agents matching every word of ``q`` (the last one as a prefix), in ``sort`` order.

    Relevance: a word in the id or name counts most, then tags, then the description; the
    query equal to an agent's id or name puts it first; ties go by id.
    """
    return await buyer.search_agents(
        rt,
        q,
        tag=tag,
        limit=limit,
        cursor=cursor,
        sort=sort,
        pricing=pricing,
        facets=facets,
        online=online,
    )


@router.get("/{agent_id}", response_model=Agent)
async def get_agent(rt: RuntimeDep, _caller: AnyPrincipal, agent_id: AgentIdPath) -> Agent:
    """One agent: pricing, schemas, accept rules, whether it is online (and published)."""
    return await buyer.get_agent(rt, agent_id)


@router.get("/{agent_id}/stats", response_model=AgentStats)
async def get_agent_stats(
    rt: RuntimeDep, _caller: AnyPrincipal, agent_id: AgentIdPath
) -> AgentStats:
    """How the agent's jobs went: counts by outcome, success rate, average duration."""
    return await buyer.agent_stats(rt, agent_id)
