"""A2A over HTTP: the Agent Cards and the JSON-RPC binding (spec section 9).

- ``GET /.well-known/agent-card.json``: the marketplace's card (a skill per agent).
- ``GET /a2a/{agent_id}/.well-known/agent-card.json``: one agent's card.
- ``POST /a2a/{agent_id}`` and ``POST /a2a``: JSON-RPC 2.0 with a buyer key
  (``Authorization: Bearer``). Errors of a call are JSON-RPC error objects (HTTP 200);
  a missing or wrong key is agnt's 401/403 problem, before any JSON-RPC.
- ``SendStreamingMessage`` and ``SubscribeToTask`` answer Server-Sent Events, one
  JSON-RPC response per ``data:``; each event of the job's log ends with its ``id:``
  (the log's seq), so a client that lost the stream resumes with ``SubscribeToTask``
  and ``Last-Event-ID``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from agnt_api.a2a import cards, service
from agnt_api.a2a.errors import A2AError, field_path, invalid_params_from
from agnt_api.a2a.service import Scope, StreamItem
from agnt_api.api.deps import Buyer, RuntimeDep
from agnt_api.api.routes.jobs import SSE_MEDIA_TYPE
from agnt_api.ratelimit import RateAction, rate_limits_of
from agnt_api.runtime import Runtime
from agnt_api.services import buyer
from agnt_models import AGENT_ID_PATTERN, SearchSort
from agnt_models.a2a import (
    A2A_PROTOCOL_VERSION,
    AGENT_CARD_PATH,
    A2AModel,
    CancelTaskRequest,
    GetTaskRequest,
    JsonRpcErrorCode,
    JsonRpcId,
    JsonRpcRequest,
    JsonRpcResponse,
    ListTasksRequest,
    SendMessageRequest,
    SendMessageResponse,
    SubscribeToTaskRequest,
)

router = APIRouter(tags=["a2a"])

AgentIdPath = Annotated[str, Path(pattern=AGENT_ID_PATTERN, description="The agent's slug.")]
VersionHeader = Annotated[str | None, Header(alias="A2A-Version", max_length=20)]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=32, pattern=r"^\d+$")]

_CARD_HEADERS = {"Cache-Control": "public, max-age=60"}


def _base_url(rt: Runtime, request: Request) -> str:
    return rt.settings.public_url or str(request.base_url).rstrip("/")


@router.get(AGENT_CARD_PATH, summary="The marketplace's A2A Agent Card")
async def marketplace_card(rt: RuntimeDep, request: Request) -> JSONResponse:
    """The marketplace as an A2A agent: one skill per agent (the first 100), each naming
    its agent's own card; the search API lists every agent."""
    page = await buyer.search_agents(
        rt, "", tag=None, limit=cards.MARKETPLACE_SKILLS, cursor=None, sort=SearchSort.NEWEST
    )
    card = cards.marketplace_card(page.items, _base_url(rt, request))
    return JSONResponse(card.to_wire(), headers=_CARD_HEADERS)


@router.get("/a2a/{agent_id}" + AGENT_CARD_PATH, summary="An agent's A2A Agent Card")
async def agent_card(rt: RuntimeDep, request: Request, agent_id: AgentIdPath) -> JSONResponse:
    """The A2A card of one agent (404 problem when there is no such agent)."""
    agent = await buyer.get_agent(rt, agent_id)
    card = cards.agent_card(agent, _base_url(rt, request))
    return JSONResponse(card.to_wire(), headers=_CARD_HEADERS)


@router.post("/a2a/{agent_id}", summary="JSON-RPC interface of one agent")
async def agent_rpc(
    rt: RuntimeDep,
    caller: Buyer,
    request: Request,
    agent_id: AgentIdPath,
    version: VersionHeader = None,
    last_event_id: LastEventId = None,
) -> Response:
    """A2A v1.0 JSON-RPC: SendMessage, SendStreamingMessage, GetTask, ListTasks,
    CancelTask, SubscribeToTask (the tasks of this agent)."""
    scope = Scope(caller=caller, agent_id=agent_id, base_url=_base_url(rt, request))
    return await _rpc(rt, scope, request, version, last_event_id)


@router.post("/a2a", summary="JSON-RPC interface of the marketplace")
async def marketplace_rpc(
    rt: RuntimeDep,
    caller: Buyer,
    request: Request,
    version: VersionHeader = None,
    last_event_id: LastEventId = None,
) -> Response:
    """Like ``/a2a/{agent_id}`` for every agent: a message names its agent with
    ``agentId`` in its metadata."""
    scope = Scope(caller=caller, agent_id=None, base_url=_base_url(rt, request))
    return await _rpc(rt, scope, request, version, last_event_id)


def _answer(request_id: JsonRpcId, result: A2AModel | A2AError) -> JSONResponse:
    if isinstance(result, A2AError):
        response = JsonRpcResponse(id=request_id, error=result.to_jsonrpc())
    else:
        response = JsonRpcResponse(id=request_id, result=result.to_wire())
    return JSONResponse(response.to_wire())


def _check_version(version: str | None) -> None:
    # Absent: taken as 1.0 here (the spec reads it as 0.3, whose method names differ, so
    # a 0.3 client gets "method not found" either way).
    if version is None or not version.strip():
        return
    major_minor = ".".join(version.strip().split(".")[:2])
    if major_minor not in (A2A_PROTOCOL_VERSION, "1"):
        raise A2AError(
            JsonRpcErrorCode.VERSION_NOT_SUPPORTED,
            f"this agent speaks A2A {A2A_PROTOCOL_VERSION}, not {version}",
            metadata={"supported": A2A_PROTOCOL_VERSION},
        )


ModelT = TypeVar("ModelT", bound=BaseModel)


def _params(model: type[ModelT], call: JsonRpcRequest) -> ModelT:
    try:
        return model.model_validate(call.params or {})
    except ValidationError as exc:
        raise invalid_params_from(exc) from None


async def _read_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        decoded: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise A2AError(JsonRpcErrorCode.PARSE_ERROR) from None
    if not isinstance(decoded, dict):
        raise A2AError(JsonRpcErrorCode.INVALID_REQUEST, "send one JSON-RPC request object")
    return decoded


def _request_id(body: dict[str, Any]) -> JsonRpcId:
    """The request's id as far as it can be read (an invalid request still gets it back)."""
    found = body.get("id")
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


def _read_call(body: dict[str, Any]) -> JsonRpcRequest:
    try:
        return JsonRpcRequest.model_validate(body)
    except ValidationError as exc:
        detail = "; ".join(f"{field_path(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise A2AError(JsonRpcErrorCode.INVALID_REQUEST, detail) from None


async def _rpc(
    rt: Runtime,
    scope: Scope,
    request: Request,
    version: str | None,
    last_event_id: str | None,
) -> Response:
    request_id: JsonRpcId = None
    try:
        body = await _read_body(request)
        request_id = _request_id(body)
        call = _read_call(body)
        _check_version(version)
        if call.method in _ORDERS:
            await _take_order_token(request, scope)
        unary = _UNARY.get(call.method)
        if unary is not None:
            return _answer(request_id, await unary(rt, scope, call))
        if call.method == "SendStreamingMessage":
            job, start = await service.streaming_start(rt, scope, _params(SendMessageRequest, call))
        elif call.method == "SubscribeToTask":
            params = _params(SubscribeToTaskRequest, call)
            after = int(last_event_id) if last_event_id is not None else None
            job, start = await service.subscription_start(rt, scope, params.id, after)
        else:
            raise _unsupported(call.method)
    except A2AError as error:
        return _answer(request_id, error)
    return StreamingResponse(
        _server_sent(request_id, service.follow_task(rt, scope, job, start)),
        media_type=SSE_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )


async def _server_sent(
    request_id: JsonRpcId, items: AsyncIterator[StreamItem]
) -> AsyncIterator[str]:
    async for item in items:
        if item.response is None:
            yield ": keep-alive\n\n"
            continue
        answer = JsonRpcResponse(id=request_id, result=item.response.to_wire())
        event_id = f"id: {item.event_id}\n" if item.event_id is not None else ""
        yield f"{event_id}data: {json.dumps(answer.to_wire(), separators=(',', ':'))}\n\n"


async def _take_order_token(request: Request, scope: Scope) -> None:
    """An order over A2A costs the same rate-limit token as ``POST /v1/jobs``."""
    limits = rate_limits_of(request)
    if limits is not None:
        await limits.enforce(RateAction.ORDERS, str(scope.caller.id))


async def _send_message(rt: Runtime, scope: Scope, call: JsonRpcRequest) -> A2AModel:
    params = _params(SendMessageRequest, call)
    return SendMessageResponse(task=await service.send_message(rt, scope, params))


async def _get_task(rt: Runtime, scope: Scope, call: JsonRpcRequest) -> A2AModel:
    params = _params(GetTaskRequest, call)
    return await service.get_task(rt, scope, params.id, params.history_length)


async def _list_tasks(rt: Runtime, scope: Scope, call: JsonRpcRequest) -> A2AModel:
    return await service.list_tasks(rt, scope, _params(ListTasksRequest, call))


async def _cancel_task(rt: Runtime, scope: Scope, call: JsonRpcRequest) -> A2AModel:
    return await service.cancel_task(rt, scope, _params(CancelTaskRequest, call).id)


_UNARY: dict[str, Callable[[Runtime, Scope, JsonRpcRequest], Awaitable[A2AModel]]] = {
    "SendMessage": _send_message,
    "GetTask": _get_task,
    "ListTasks": _list_tasks,
    "CancelTask": _cancel_task,
}

_ORDERS = frozenset({"SendMessage", "SendStreamingMessage"})
_PUSH_METHODS = frozenset(
    {
        "CreateTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
        "ListTaskPushNotificationConfigs",
        "DeleteTaskPushNotificationConfig",
    }
)


def _unsupported(method: str) -> A2AError:
    """The error for a method agnt does not serve (or that does not exist)."""
    if method in _PUSH_METHODS:
        return A2AError(
            JsonRpcErrorCode.PUSH_NOTIFICATION_NOT_SUPPORTED,
            "order with a webhook on POST /v1/jobs for pushed updates",
        )
    if method == "GetExtendedAgentCard":
        return A2AError(JsonRpcErrorCode.UNSUPPORTED_OPERATION, "there is no extended agent card")
    return A2AError(JsonRpcErrorCode.METHOD_NOT_FOUND, f"no method {method!r}")
