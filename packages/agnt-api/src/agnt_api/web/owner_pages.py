"""Pages for agents' owners (executor keys): their agents, how each one's jobs went, and
why recent ones failed or were refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from agnt_api.api.deps import get_runtime
from agnt_api.auth import Principal
from agnt_api.errors import Forbidden
from agnt_api.services import agents, dispatch, jobs, presence
from agnt_api.services.transitions import executor_scope
from agnt_api.web import flash
from agnt_api.web.flash import Flash
from agnt_api.web.sessions import CsrfChecked, SignedIn
from agnt_api.web.templating import render
from agnt_models import AGENT_ID_PATTERN, Agent, AgentStats, Job, JobStatus, Role

router = APIRouter(include_in_schema=False)

RECENT_TROUBLE = 5
"""How many recent failed or rejected jobs each agent's card explains."""


@dataclass(frozen=True)
class OwnedAgent:
    """One agent on the owner's page: its card, its counts, its recent troubles."""

    agent: Agent
    stats: AgentStats
    troubles: list[Job]


def _overview(
    connection: sa.Connection, owner: Principal, online_after: datetime
) -> list[OwnedAgent]:
    scope = executor_scope(owner)
    shown = []
    for summary in agents.owned_agents(connection, owner.id):
        agent = agents.get_agent(connection, summary.id, online_after)
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


def _owner_only(principal: Principal) -> None:
    if principal.role not in (Role.EXECUTOR, Role.ADMIN):
        raise Forbidden("this page lists the agents an executor key publishes")


@router.get("/my-agents")
async def my_agents_page(request: Request, principal: SignedIn) -> Response:
    """The signed-in executor's agents: online or not, published or not, their job counts
    and failure reasons, and a button to unpublish each."""
    _owner_only(principal)
    rt = get_runtime(request)
    owned = await rt.database.run(_overview, principal, presence.online_after(rt.settings))
    kept = flash.take(request)
    return await render(
        request, "my_agents.html", {"owned": owned, "notice": kept.notice if kept else None}
    )


@router.post("/my-agents/{agent_id}/unpublish", dependencies=[CsrfChecked])
async def unpublish_submit(
    request: Request,
    principal: SignedIn,
    agent_id: Annotated[str, Path(pattern=AGENT_ID_PATTERN)],
) -> Response:
    """Unpublish one's agent (as ``DELETE /v1/executor/agents/{id}``), then back to the
    list with a notice (post/redirect/get)."""
    _owner_only(principal)
    await dispatch.unpublish_agent(get_runtime(request), principal, agent_id)
    back = RedirectResponse("/my-agents", status_code=303)
    notice = (
        f"{agent_id} is unpublished: hidden from search, new orders refused, pending jobs "
        "canceled. Publishing it again (agnt-executor publish) brings it back."
    )
    flash.keep(request, back, Flash("/my-agents", notice=notice))
    return back
