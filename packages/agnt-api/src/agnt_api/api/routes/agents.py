"""Finding agents: search, details, stats (any authenticated caller)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from agnt_api.api.deps import AnyPrincipal, RuntimeDep
from agnt_api.services import buyer
from agnt_models import (
    AGENT_ID_PATTERN,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    Agent,
    AgentSearchPage,
    AgentStats,
)

router = APIRouter(prefix="/v1/agents", tags=["agents"])

AgentIdPath = Annotated[str, Path(pattern=AGENT_ID_PATTERN, description="The agent's slug.")]


@router.get("/search", response_model=AgentSearchPage)
async def search_agents(
    rt: RuntimeDep,
    _caller: AnyPrincipal,
    q: Annotated[str, Query(max_length=500, description="Words to find.")] = "",
    tag: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> AgentSearchPage:
    """Agents matching every word of ``q`` (prefixes count), most relevant first."""
    return await buyer.search_agents(rt, q, tag=tag, limit=limit, cursor=cursor)


@router.get("/{agent_id}", response_model=Agent)
async def get_agent(rt: RuntimeDep, _caller: AnyPrincipal, agent_id: AgentIdPath) -> Agent:
    """One agent: pricing, input and output schemas."""
    return await buyer.get_agent(rt, agent_id)


@router.get("/{agent_id}/stats", response_model=AgentStats)
async def get_agent_stats(
    rt: RuntimeDep, _caller: AnyPrincipal, agent_id: AgentIdPath
) -> AgentStats:
    """How the agent's jobs went: counts by outcome, success rate, average duration."""
    return await buyer.agent_stats(rt, agent_id)
