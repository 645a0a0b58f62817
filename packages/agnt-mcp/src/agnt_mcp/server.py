"""The agnt MCP server: seven tools and the result-file resources, over any ``Backend``.

``build_server(backend_for)`` returns an ``MCPServer`` (the official SDK's) whose tools ask
``backend_for(ctx)`` for the caller's backend: ``agnt mcp`` hands out its one client-backed
backend; the API's ``/mcp`` one backed by its services for the request's key. A backend's
refusal comes back as a tool error (``isError``) whose structured content is the API's
problem document, so the model sees agnt's stable ``code`` (``agent_not_found``,
``validation_error`` with the bad field, ...).

Long jobs: ``order_job`` waits at most ``wait_seconds`` (below a host's usual 60 s tool
timeout), sending MCP progress notifications from the job's event stream, then answers the
job as it is with a ``next_step`` naming ``get_job``. The SDK (mcp 2.3) ships no tasks
extension to hand the job over to instead.
"""

# No ``from __future__ import annotations``: the SDK reads the tools' signatures at run time.

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any
from urllib.parse import unquote

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    InputRequiredResult,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from mcp_types import ResourceTemplate as MCPResourceTemplate
from mcp_types.jsonrpc import INVALID_PARAMS
from pydantic import AnyUrl, BaseModel, Field, ValidationError

import agnt_mcp
from agnt_mcp.backend import Backend, BackendError
from agnt_models import (
    MAX_PAGE_LIMIT,
    MAX_WAIT_SECONDS,
    TERMINAL,
    Agent,
    AgentSearchPage,
    ErrorCode,
    FieldError,
    Job,
    JobEvent,
    JobEventKind,
    JobStatus,
    JsonObject,
    Problem,
    ResultFile,
)
from agnt_models.mcp import (
    RESULT_FILE_URI_TEMPLATE,
    McpJob,
    McpJobLogs,
    McpLogLine,
    McpResultFile,
    result_file_uri,
)

BackendFor = Callable[[Context[Any, Any]], Awaitable[Backend]]
"""The backend of the caller of one MCP request."""

DEFAULT_ORDER_WAIT_SECONDS = 45.0
"""How long ``order_job`` waits by default: under the 60 s tool timeout of common hosts."""
INLINE_TEXT_BYTES = 16 * 1024
"""A text result file up to this size comes inline; a larger one (or binary) as a link."""
RESOURCE_NOT_FOUND = -32002
"""The JSON-RPC error code MCP gives a resource that does not exist."""

_TEXT_MIMES = ("application/json", "application/xml", "application/yaml", "application/x-yaml")
_RESULT_URI = re.compile(r"^agnt://jobs/(?P<job_id>[0-9a-fA-F-]{36})/files/(?P<name>[^/]+)$")

INSTRUCTIONS = (
    "agnt is a marketplace of AI agents that run as jobs. Find one with search_agents, read "
    "its input schema with get_agent, then order_job with a prompt and params that satisfy "
    "that schema. order_job waits for the job (progress arrives as notifications) and "
    "answers its result: small text files inline, others as agnt:// resources to read. A job "
    "still running when the wait ends keeps running: follow it with get_job."
)

JobIdArg = Annotated[uuid.UUID, Field(description="The job's id (a UUID).")]
WaitArg = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds to wait for the job to end (or, for get_job, to change).",
    ),
]


def build_server(backend_for: BackendFor) -> MCPServer[Any]:
    """The agnt MCP server, asking ``backend_for`` for each request's backend."""
    # MCPServer() calls logging.basicConfig (a rich handler at INFO on the root logger): in
    # the API that would re-route every library's logs; in `agnt mcp` it would write each
    # HTTP request to stderr. The process keeps the logging it had.
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        server = _AgntServer(
            backend_for,
            name="agnt",
            title="agnt marketplace",
            version=agnt_mcp.__version__,
            instructions=INSTRUCTIONS,
            log_level="WARNING",
        )
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=True)

    @server.tool(annotations=read_only)
    async def search_agents(
        ctx: Context[Any, Any],
        query: Annotated[str, Field(max_length=500, description="Words to find.")] = "",
        tag: Annotated[str | None, Field(max_length=50, description="Only this tag.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE_LIMIT)] = 10,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page.")] = None,
    ) -> Annotated[CallToolResult, AgentSearchPage]:
        """Find agents in the marketplace, most relevant first (id, name, tags, pricing)."""

        async def call(backend: Backend) -> CallToolResult:
            page = await backend.search_agents(query, tag=tag, limit=limit, cursor=cursor)
            return _answer(page)

        return await _guarded(backend_for, ctx, call)

    @server.tool(annotations=read_only)
    async def get_agent(
        ctx: Context[Any, Any],
        agent_id: Annotated[str, Field(max_length=200, description="The agent's id (slug).")],
    ) -> Annotated[CallToolResult, Agent]:
        """An agent in full: pricing, and the JSON Schema that order_job's params must satisfy."""

        async def call(backend: Backend) -> CallToolResult:
            agent = await backend.get_agent(agent_id)
            schema = json.dumps(agent.input_schema, indent=1, sort_keys=True)
            guide = (
                f"{agent.name} ({agent.id}): {agent.description}\n"
                f"Order it with order_job(agent_id={agent.id!r}, prompt=..., params=...); "
                f"params must satisfy this JSON Schema:\n{schema}"
            )
            return _answer(agent, [TextContent(type="text", text=guide)])

        return await _guarded(backend_for, ctx, call)

    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=True))
    async def order_job(
        ctx: Context[Any, Any],
        agent_id: Annotated[str, Field(max_length=200, description="The agent's id (slug).")],
        prompt: Annotated[str, Field(description="What the agent should do.")],
        params: Annotated[
            JsonObject | None,
            Field(description="Parameters; must satisfy the agent's input schema (get_agent)."),
        ] = None,
        wait_seconds: WaitArg = DEFAULT_ORDER_WAIT_SECONDS,
    ) -> Annotated[CallToolResult, McpJob]:
        """Order a job from an agent and wait for it, reporting progress.

        Answers the job with its result files once it completed (small text inline, the rest
        as agnt:// resources); a job still running after wait_seconds keeps running: follow
        it with get_job (next_step says so).
        """

        async def call(backend: Backend) -> CallToolResult:
            if not _wants_progress(ctx):
                # Nobody to notify: the API holds the answer (Prefer: wait), one call.
                job = await backend.order_job(agent_id, prompt, params or {}, wait=wait_seconds)
            else:
                job = await backend.order_job(agent_id, prompt, params or {}, wait=0)
                job = await _follow(backend, job, wait_seconds, ctx)
            return await _job_answer(backend, job)

        return await _guarded(backend_for, ctx, call)

    @server.tool(annotations=read_only)
    async def get_job(
        ctx: Context[Any, Any], job_id: JobIdArg, wait_seconds: WaitArg = 0
    ) -> Annotated[CallToolResult, McpJob]:
        """A job's status and progress (with its result files once completed); with
        wait_seconds, answers when the job changes or that time passed."""

        async def call(backend: Backend) -> CallToolResult:
            job = await backend.get_job(job_id, wait=wait_seconds)
            return await _job_answer(backend, job)

        return await _guarded(backend_for, ctx, call)

    @server.tool(annotations=read_only)
    async def get_job_logs(
        ctx: Context[Any, Any],
        job_id: JobIdArg,
        after: Annotated[int, Field(ge=0, description="last_seq of the previous call.")] = 0,
    ) -> Annotated[CallToolResult, McpJobLogs]:
        """The output lines the job's agent wrote, after event ``after``."""

        async def call(backend: Backend) -> CallToolResult:
            page = await backend.job_events(job_id, after=after)
            lines = [line for event in page.items for line in _log_lines(event)]
            logs = McpJobLogs(job_id=job_id, lines=lines, last_seq=page.last_seq, done=page.done)
            text = "\n".join(line.text for line in lines) or "(no new lines)"
            return _answer(logs, [TextContent(type="text", text=text)])

        return await _guarded(backend_for, ctx, call)

    @server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=False))
    async def cancel_job(
        ctx: Context[Any, Any], job_id: JobIdArg
    ) -> Annotated[CallToolResult, Job]:
        """Cancel a job that has not ended (an ended job is an invalid_transition error)."""

        async def call(backend: Backend) -> CallToolResult:
            return _answer(await backend.cancel_job(job_id))

        return await _guarded(backend_for, ctx, call)

    @server.tool(annotations=read_only)
    async def get_result(
        ctx: Context[Any, Any], job_id: JobIdArg
    ) -> Annotated[CallToolResult, McpJob]:
        """A completed job's result files: small text inline, the rest as agnt:// resources
        (job_not_completed until it completed)."""

        async def call(backend: Backend) -> CallToolResult:
            result = await backend.get_result(job_id)
            job = await backend.get_job(job_id, wait=0)
            return await _job_answer(backend, job, result.files)

        return await _guarded(backend_for, ctx, call)

    return server


class _AgntServer(MCPServer[Any]):
    """``MCPServer`` whose ``agnt://jobs/{id}/files/{name}`` resources carry each file's
    own media type (the SDK's templates have one fixed type)."""

    def __init__(self, backend_for: BackendFor, **settings: Any) -> None:
        super().__init__(**settings)
        self._backend_for = backend_for

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        """The result files of the caller's completed jobs."""
        template = MCPResourceTemplate(
            uri_template=RESULT_FILE_URI_TEMPLATE,
            name="job result file",
            description="A result file of one of your completed jobs (order_job, get_result).",
        )
        return [template, *await super().list_resource_templates()]

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        """A result file's content: text for text files, bytes (a blob) otherwise."""
        found = _RESULT_URI.match(str(uri))
        if found is None or context is None:
            return await super().read_resource(uri, context)
        job_id = uuid.UUID(found["job_id"])
        name = unquote(found["name"])
        try:
            backend = await self._backend_for(context)
            result = await backend.get_result(job_id)
            file = _file_named(result.files, job_id, name)
            content = await backend.read_result_file(job_id, file)
        except BackendError as exc:
            problem = exc.problem
            code = RESOURCE_NOT_FOUND if problem.status == 404 else INVALID_PARAMS
            data = {"uri": str(uri), **problem.model_dump(mode="json", exclude_none=True)}
            raise MCPError(code, problem.detail or problem.title, data) from exc
        return [ReadResourceContents(content=_text_or_bytes(file, content), mime_type=file.mime)]


async def _guarded(
    backend_for: BackendFor,
    ctx: Context[Any, Any],
    call: Callable[[Backend], Awaitable[CallToolResult]],
) -> CallToolResult:
    """``call`` with the caller's backend; a refusal becomes a tool error with its problem."""
    try:
        return await call(await backend_for(ctx))
    except BackendError as exc:
        return _error(exc.problem)
    except ValidationError as exc:
        # A value the wire models refuse (an agent id's pattern, a prompt over 100 kB).
        errors = [
            FieldError(loc=".".join(str(p) for p in e["loc"]), message=e["msg"])
            for e in exc.errors()
        ]
        return _error(Problem.of(ErrorCode.VALIDATION_ERROR, "invalid arguments", errors=errors))


def _answer(model: BaseModel, content: list[ContentBlock] | None = None) -> CallToolResult:
    """A tool's answer: ``model`` as structured content, ``content`` (or its JSON) as text."""
    structured = model.model_dump(mode="json")
    if content is None:
        content = [TextContent(type="text", text=json.dumps(structured))]
    return CallToolResult(content=content, structured_content=structured)


def _error(problem: Problem) -> CallToolResult:
    """A tool error the model can act on: the problem document, with agnt's ``code``."""
    document = problem.model_dump(mode="json", exclude_none=True)
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(document))],
        structured_content=document,
        is_error=True,
    )


def _wants_progress(ctx: Context[Any, Any]) -> bool:
    """Whether the caller sent a progress token (else progress would go nowhere)."""
    meta = ctx.request_context.meta
    return meta is not None and meta.get("progress_token") is not None


async def _follow(backend: Backend, job: Job, wait: float, ctx: Context[Any, Any]) -> Job:
    """The job once it ended, or as it is after ``wait`` seconds; reports progress meanwhile."""
    if job.status in TERMINAL or wait <= 0:
        return job
    progress = _ProgressReporter(ctx)
    with anyio.move_on_after(wait):
        async for event in backend.follow_events(job.id, after=0):
            await progress.report(event)
    return await backend.get_job(job.id, wait=0)


class _ProgressReporter:
    """MCP progress notifications (percent of 100) from a job's events.

    MCP wants each notification's value above the last; a status change at the same
    percent is still worth a message, so it goes out a hair higher.
    """

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self._ctx = ctx
        self._last = -1.0
        self._percent = 0.0

    async def report(self, event: JobEvent) -> None:
        """Send the notification ``event`` is worth, if any."""
        message: str
        if event.kind is JobEventKind.PROGRESS:
            value = event.data.get("progress")
            if isinstance(value, int | float):
                self._percent = float(value)
            message = f"{self._percent:.0f}%"
        elif event.kind is JobEventKind.LOG:
            lines = _log_lines(event)
            if not lines:
                return
            message = lines[-1].text[:200]
        else:
            if event.kind is JobEventKind.COMPLETED:
                self._percent = 100.0
            message = f"job {event.kind.value}"
        self._last = max(self._percent, self._last + 0.001)
        await self._ctx.report_progress(self._last, 100.0, message)


def _log_lines(event: JobEvent) -> list[McpLogLine]:
    """The output lines a ``log`` event carries (none for other kinds)."""
    lines = event.data.get("lines")
    if event.kind is not JobEventKind.LOG or not isinstance(lines, list):
        return []
    found = []
    for line in lines:
        if isinstance(line, dict) and isinstance(line.get("text"), str):
            stream = "stdout" if line.get("stream") == "stdout" else "stderr"
            found.append(McpLogLine(seq=event.seq, stream=stream, text=str(line["text"])))
    return found


async def _job_answer(
    backend: Backend, job: Job, files: list[ResultFile] | None = None
) -> CallToolResult:
    """The job, its result files once completed, and a next step while it has not ended."""
    if files is None and job.status is JobStatus.COMPLETED:
        files = (await backend.get_result(job.id)).files
    listed: list[McpResultFile] = []
    blocks: list[ContentBlock] = []
    for file in files or []:
        uri = result_file_uri(job.id, file.name)
        text: str | None = None
        if _inline(file):
            text = _decoded(await backend.read_result_file(job.id, file))
        listed.append(
            McpResultFile(
                name=file.name,
                size=file.size,
                mime=file.mime,
                sha256=file.sha256,
                uri=uri,
                text=text,
            )
        )
        if text is not None:
            contents = TextResourceContents(uri=uri, mime_type=file.mime, text=text)
            blocks.append(EmbeddedResource(type="resource", resource=contents))
        else:
            blocks.append(
                ResourceLink(
                    type="resource_link",
                    uri=uri,
                    name=file.name,
                    mime_type=file.mime,
                    size=file.size,
                )
            )
    next_step = None
    if job.status not in TERMINAL:
        next_step = (
            f"The job is still {job.status.value} and keeps running: call get_job with "
            f"job_id={job.id} and wait_seconds={MAX_WAIT_SECONDS} until it ends, then get_result."
        )
    answer = McpJob(job=job, files=listed, next_step=next_step)
    summary = answer.model_dump(mode="json", exclude={"files": {"__all__": {"text"}}})
    return _answer(answer, [TextContent(type="text", text=json.dumps(summary)), *blocks])


def _file_named(files: Iterable[ResultFile], job_id: uuid.UUID, name: str) -> ResultFile:
    """The result file called ``name``; ``file_not_found`` when there is none."""
    for file in files:
        if file.name == name:
            return file
    raise BackendError(
        Problem.of(ErrorCode.FILE_NOT_FOUND, f"job {job_id} has no result file {name!r}")
    )


def _is_text(mime: str) -> bool:
    base = mime.split(";")[0].strip().lower()
    return base.startswith("text/") or base in _TEXT_MIMES or base.endswith(("+json", "+xml"))


def _inline(file: ResultFile) -> bool:
    return file.size <= INLINE_TEXT_BYTES and _is_text(file.mime)


def _decoded(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_or_bytes(file: ResultFile, content: bytes) -> str | bytes:
    if _is_text(file.mime):
        text = _decoded(content)
        if text is not None:
            return text
    return content
