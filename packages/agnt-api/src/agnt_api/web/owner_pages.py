"""Pages for agents' owners (executor keys): their agents, how each one's jobs went, and
why recent ones failed or were refused."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response

from agnt_api.api.deps import get_runtime
from agnt_api.auth import Principal
from agnt_api.errors import Forbidden
from agnt_api.services import agents, jobs
from agnt_api.services.transitions import executor_scope
from agnt_api.web.sessions import SignedIn
from agnt_api.web.templating import render
from agnt_models import AgentStats, AgentSummary, Job, JobStatus, Role

router = APIRouter(include_in_schema=False)

RECENT_TROUBLE = 5
"""How many recent failed or rejected jobs each agent's card explains."""


@dataclass(frozen=True)
class OwnedAgent:
    """One agent on the owner's page: its card, its counts, its recent troubles."""

    agent: AgentSummary
    stats: AgentStats
    troubles: list[Job]


def _overview(connection: sa.Connection, owner: Principal) -> list[OwnedAgent]:
    scope = executor_scope(owner)
    shown = []
    for agent in agents.owned_agents(connection, owner.id):
        troubles: list[Job] = []
        for status in (JobStatus.FAILED, JobStatus.REJECTED):
            troubles += jobs.list_jobs(
                connection,
                scope,
                status=status,
                agent_id=agent.id,
                limit=RECENT_TROUBLE,
                cursor=None,
                listing="owner-troubles",
            ).items
        troubles.sort(key=lambda job: job.updated_at, reverse=True)
        stats = agents.agent_stats(connection, agent.id)
        shown.append(OwnedAgent(agent, stats, troubles[:RECENT_TROUBLE]))
    return shown


@router.get("/my-agents")
async def my_agents_page(request: Request, principal: SignedIn) -> Response:
    """The signed-in executor's agents with their job counts and failure reasons."""
    if principal.role not in (Role.EXECUTOR, Role.ADMIN):
        raise Forbidden("this page lists the agents an executor key publishes")
    owned = await get_runtime(request).database.run(_overview, principal)
    return await render(request, "my_agents.html", {"owned": owned})
