"""A2A v1.0 wire shapes (JSON-RPC binding), as far as agnt speaks them.

The spec (github.com/a2aproject/A2A, ``specification/a2a.proto``, package ``lf.a2a.v1``)
defines them as protobuf messages serialized as ProtoJSON: camelCase field names, enums
by name (``TASK_STATE_WORKING``), timestamps as ISO 8601 in UTC. These pydantic models
mirror the subset agnt serves, so the API needs no protobuf runtime; ``a2a-sdk``'s client
is the conformance check (the tests drive the server with it).

Requests ignore unknown fields (spec 5.7: forward compatibility); answers are dumped with
``to_wire()``: by alias, without unset (``None``) fields.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic.alias_generators import to_camel

A2A_PROTOCOL_VERSION = "1.0"
JSONRPC_BINDING = "JSONRPC"
AGENT_CARD_PATH = "/.well-known/agent-card.json"
INPUT_SCHEMA_EXTENSION = "https://agnt.dev/a2a/extensions/job-schema/v1"
"""Extension URI whose ``params`` carry an agent's ``inputSchema`` (the JSON Schema of the
data part), ``outputSchema`` and ``pricing``: A2A skills have no input schema of their own."""


Strings = list[str]


def _no_strings() -> Strings:
    return []


class A2AModel(BaseModel):
    """Base of the A2A shapes: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The ProtoJSON object: camelCase, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class TaskState(StrEnum):
    """``lf.a2a.v1.TaskState``."""

    UNSPECIFIED = "TASK_STATE_UNSPECIFIED"
    SUBMITTED = "TASK_STATE_SUBMITTED"
    WORKING = "TASK_STATE_WORKING"
    COMPLETED = "TASK_STATE_COMPLETED"
    FAILED = "TASK_STATE_FAILED"
    CANCELED = "TASK_STATE_CANCELED"
    INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
    REJECTED = "TASK_STATE_REJECTED"
    AUTH_REQUIRED = "TASK_STATE_AUTH_REQUIRED"


class Role(StrEnum):
    """``lf.a2a.v1.Role``."""

    UNSPECIFIED = "ROLE_UNSPECIFIED"
    USER = "ROLE_USER"
    AGENT = "ROLE_AGENT"


class Part(A2AModel):
    """One piece of content: exactly one of ``text``, ``raw`` (base64), ``url``, ``data``."""

    text: str | None = None
    raw: str | None = None
    url: str | None = None
    data: JsonValue = None
    metadata: dict[str, JsonValue] | None = None
    filename: str | None = None
    media_type: str | None = None

    @model_validator(mode="after")
    def _one_content(self) -> Part:
        present = [self.text, self.raw, self.url, self.data]
        if sum(value is not None for value in present) != 1:
            raise ValueError("a part holds exactly one of text, raw, url, data")
        return self


class Message(A2AModel):
    """A turn of the conversation (``lf.a2a.v1.Message``)."""

    message_id: str = Field(min_length=1, max_length=1024)
    context_id: str | None = None
    task_id: str | None = None
    role: Role
    parts: list[Part] = Field(min_length=1)
    metadata: dict[str, JsonValue] | None = None
    extensions: list[str] | None = None
    reference_task_ids: list[str] | None = None


class TaskStatus(A2AModel):
    """A task's state, the agent's message about it and when it was reached."""

    state: TaskState
    message: Message | None = None
    timestamp: AwareDatetime | None = None


class Artifact(A2AModel):
    """An output of a task (agnt: one per result file)."""

    artifact_id: str
    name: str | None = None
    description: str | None = None
    parts: list[Part]
    metadata: dict[str, JsonValue] | None = None
    extensions: list[str] | None = None


class Task(A2AModel):
    """``lf.a2a.v1.Task``; agnt: one job."""

    id: str
    context_id: str | None = None
    status: TaskStatus
    artifacts: list[Artifact] | None = None
    history: list[Message] | None = None
    metadata: dict[str, JsonValue] | None = None


class TaskStatusUpdateEvent(A2AModel):
    """A streamed change of a task's status."""

    task_id: str
    context_id: str
    status: TaskStatus
    metadata: dict[str, JsonValue] | None = None


class TaskArtifactUpdateEvent(A2AModel):
    """A streamed artifact of a task."""

    task_id: str
    context_id: str
    artifact: Artifact
    append: bool | None = None
    last_chunk: bool | None = None
    metadata: dict[str, JsonValue] | None = None


class StreamResponse(A2AModel):
    """One SSE ``data:`` result of a stream: exactly one payload."""

    task: Task | None = None
    message: Message | None = None
    status_update: TaskStatusUpdateEvent | None = None
    artifact_update: TaskArtifactUpdateEvent | None = None


class SendMessageResponse(A2AModel):
    """The result of ``SendMessage``: a task (agnt never answers with a bare message)."""

    task: Task | None = None
    message: Message | None = None


class SendMessageConfiguration(A2AModel):
    """How to answer ``SendMessage``; blocking unless ``returnImmediately``.

    ``blocking`` is the 0.3 name of the opposite flag, still honoured when sent.
    """

    accepted_output_modes: list[str] | None = None
    history_length: int | None = Field(default=None, ge=0)
    return_immediately: bool | None = None
    blocking: bool | None = None
    task_push_notification_config: dict[str, JsonValue] | None = None


class SendMessageRequest(A2AModel):
    """Params of ``SendMessage`` and ``SendStreamingMessage``."""

    tenant: str | None = None
    message: Message
    configuration: SendMessageConfiguration | None = None
    metadata: dict[str, JsonValue] | None = None


class GetTaskRequest(A2AModel):
    """Params of ``GetTask``."""

    tenant: str | None = None
    id: str
    history_length: int | None = Field(default=None, ge=0)


class CancelTaskRequest(A2AModel):
    """Params of ``CancelTask``."""

    tenant: str | None = None
    id: str
    metadata: dict[str, JsonValue] | None = None


class SubscribeToTaskRequest(A2AModel):
    """Params of ``SubscribeToTask``."""

    tenant: str | None = None
    id: str


class ListTasksRequest(A2AModel):
    """Params of ``ListTasks``."""

    tenant: str | None = None
    context_id: str | None = None
    status: TaskState | None = None
    page_size: int | None = Field(default=None, ge=1, le=100)
    page_token: str | None = Field(default=None, max_length=2000)
    history_length: int | None = Field(default=None, ge=0)
    status_timestamp_after: AwareDatetime | None = None
    include_artifacts: bool | None = None


class ListTasksResponse(A2AModel):
    """The result of ``ListTasks``; ``nextPageToken`` is "" on the last page."""

    tasks: list[Task]
    next_page_token: str
    page_size: int
    total_size: int


class AgentInterface(A2AModel):
    """Where and how an agent is reached."""

    url: str
    protocol_binding: str
    tenant: str | None = None
    protocol_version: str


class AgentProvider(A2AModel):
    """Who serves the agent."""

    url: str
    organization: str


class AgentExtension(A2AModel):
    """An extension the agent supports; ``params`` are its declaration."""

    uri: str
    description: str | None = None
    required: bool | None = None
    params: dict[str, JsonValue] | None = None


class AgentCapabilities(A2AModel):
    """Optional features of the agent."""

    streaming: bool | None = None
    push_notifications: bool | None = None
    extensions: list[AgentExtension] | None = None
    extended_agent_card: bool | None = None


class HTTPAuthSecurityScheme(A2AModel):
    """HTTP authentication (RFC 7235), e.g. ``Bearer``."""

    description: str | None = None
    scheme: str
    bearer_format: str | None = None


class SecurityScheme(A2AModel):
    """One security scheme (agnt declares only HTTP bearer)."""

    http_auth_security_scheme: HTTPAuthSecurityScheme


class StringList(A2AModel):
    """A list of strings (scopes); the wire name is ``list``."""

    items: Strings = Field(default_factory=_no_strings, alias="list")


class SecurityRequirement(A2AModel):
    """Schemes (by name) that together satisfy the requirement, with their scopes."""

    schemes: dict[str, StringList]


class AgentSkill(A2AModel):
    """One thing the agent does."""

    id: str
    name: str
    description: str
    tags: list[str]
    examples: list[str] | None = None
    input_modes: list[str] | None = None
    output_modes: list[str] | None = None


class AgentCard(A2AModel):
    """``lf.a2a.v1.AgentCard``: what a client reads before it calls the agent."""

    name: str
    description: str
    supported_interfaces: list[AgentInterface]
    provider: AgentProvider | None = None
    version: str
    documentation_url: str | None = None
    capabilities: AgentCapabilities
    security_schemes: dict[str, SecurityScheme] | None = None
    security_requirements: list[SecurityRequirement] | None = None
    default_input_modes: list[str]
    default_output_modes: list[str]
    skills: list[AgentSkill]
    icon_url: str | None = None


class JsonRpcErrorCode(IntEnum):
    """JSON-RPC 2.0 codes and the A2A ones (spec 5.4)."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    TASK_NOT_FOUND = -32001
    TASK_NOT_CANCELABLE = -32002
    PUSH_NOTIFICATION_NOT_SUPPORTED = -32003
    UNSUPPORTED_OPERATION = -32004
    CONTENT_TYPE_NOT_SUPPORTED = -32005
    INVALID_AGENT_RESPONSE = -32006
    EXTENDED_AGENT_CARD_NOT_CONFIGURED = -32007
    EXTENSION_SUPPORT_REQUIRED = -32008
    VERSION_NOT_SUPPORTED = -32009


JsonRpcId = str | int | None


class JsonRpcRequest(BaseModel):
    """A JSON-RPC 2.0 request object."""

    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"]
    id: JsonRpcId = None
    method: str
    params: dict[str, JsonValue] | None = None


class JsonRpcError(BaseModel):
    """A JSON-RPC error object; ``data`` lists ``google.rpc`` details (``@type`` keyed)."""

    code: int
    message: str
    data: list[dict[str, JsonValue]] | None = None


class JsonRpcResponse(BaseModel):
    """A JSON-RPC 2.0 response: ``result`` or ``error``."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: JsonRpcId = None
    result: dict[str, JsonValue] | None = None
    error: JsonRpcError | None = None

    def to_wire(self) -> dict[str, Any]:
        """The response object (``id`` always present, null when unknown)."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self.id}
        if self.error is not None:
            body["error"] = self.error.model_dump(mode="json", exclude_none=True)
        else:
            body["result"] = self.result
        return body
