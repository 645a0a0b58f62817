"""Jobs as A2A tasks, and A2A messages as orders: the mapping between the two models.

A task is a job (task id = job id; each job is its own context, so context id = job id
too). The buyer's message is rebuilt as the task's history: a text part with the prompt
and a data part with the params. Result files become artifacts whose one part is the
file's download URL.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import JsonValue

from agnt_api.a2a.errors import A2AError, FieldViolation
from agnt_models import Job, JobCreate, JobResult, JobStatus, ResultFile
from agnt_models.a2a import (
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskState,
    TaskStatus,
)
from agnt_models.common import JsonObject

TASK_STATES: Mapping[JobStatus, TaskState] = {
    JobStatus.PENDING: TaskState.SUBMITTED,
    JobStatus.ACCEPTED: TaskState.WORKING,
    JobStatus.RUNNING: TaskState.WORKING,
    JobStatus.COMPLETED: TaskState.COMPLETED,
    JobStatus.FAILED: TaskState.FAILED,
    JobStatus.CANCELED: TaskState.CANCELED,
    JobStatus.REJECTED: TaskState.REJECTED,
}
"""Each job status as a v1.0 task state."""

JOB_STATUSES: Mapping[TaskState, tuple[JobStatus, ...]] = {
    state: tuple(status for status, mapped in TASK_STATES.items() if mapped is state)
    for state in TaskState
}
"""The job statuses behind each task state (none for the states agnt never reaches)."""


def agent_message(task_id: str, text: str, message_id: str) -> Message:
    """A message from the agent about the task (its status message)."""
    return Message(
        message_id=message_id,
        context_id=task_id,
        task_id=task_id,
        role=Role.AGENT,
        parts=[Part(text=text)],
    )


def task_status(job: Job) -> TaskStatus:
    """The job's status as a task status; the decision reason is the status message."""
    message = None
    if job.decision_reason:
        message = agent_message(str(job.id), job.decision_reason, f"{job.id}-status")
    return TaskStatus(state=TASK_STATES[job.status], message=message, timestamp=job.updated_at)


def order_message(job: Job) -> Message:
    """The buyer's message that ordered the job, rebuilt: prompt as text, params as data."""
    parts = [Part(text=job.prompt)]
    if job.params:
        parts.append(Part(data=job.params, media_type="application/json"))
    return Message(
        message_id=f"{job.id}-order",
        context_id=str(job.id),
        task_id=str(job.id),
        role=Role.USER,
        parts=parts,
    )


def file_artifact(file: ResultFile) -> Artifact:
    """One result file as an artifact: a URL part with its name and media type.

    Size and sha256 have no field in a v1.0 part; they go into the artifact's metadata.
    """
    return Artifact(
        artifact_id=file.name,
        name=file.name,
        parts=[Part(url=file.download_url, filename=file.name, media_type=file.mime)],
        metadata={"size": file.size, "sha256": file.sha256},
    )


def job_task(
    job: Job,
    result: JobResult | None,
    *,
    history_length: int | None = None,
    with_artifacts: bool = True,
) -> Task:
    """The job as a task; ``result`` gives the artifacts of a completed job."""
    history = None
    if history_length is None or history_length > 0:
        history = [order_message(job)]
    artifacts = None
    if with_artifacts:
        artifacts = [file_artifact(file) for file in result.files] if result else []
    return Task(
        id=str(job.id),
        context_id=str(job.id),
        status=task_status(job),
        artifacts=artifacts,
        history=history,
        metadata={
            "agentId": job.agent_id,
            "status": job.status.value,
            "progress": job.progress,
            "createdAt": job.created_at.isoformat(),
        },
    )


def order_from_message(
    agent_id: str, message: Message, base_url: str
) -> tuple[JobCreate, list[FilePart]]:
    """The order a buyer's message stands for: text parts are the prompt, a data part the
    params, file parts its input files (stored by the caller, ``a2a.files``).

    ``A2AError`` (invalid params, naming the part) for anything else; params are checked
    against the agent's schema later, by the order itself.
    """
    if message.role is not Role.USER:
        raise A2AError.invalid_params(
            [FieldViolation("message.role", "a message to an agent has role ROLE_USER")]
        )
    texts: list[str] = []
    params: JsonObject | None = None
    files: list[FilePart] = []
    for index, part in enumerate(message.parts):
        where = f"message.parts[{index}]"
        if part.text is not None:
            texts.append(part.text)
        elif part.data is not None:
            if params is not None:
                raise A2AError.invalid_params(
                    [FieldViolation(f"{where}.data", "send the params in one data part")]
                )
            if not isinstance(part.data, dict):
                raise A2AError.invalid_params(
                    [FieldViolation(f"{where}.data", "the params are a JSON object")]
                )
            params = _integral_numbers(part.data)
        else:
            files.append(file_input(where, len(files), part, base_url))
    body = JobCreate.model_validate(
        {"agent_id": agent_id, "prompt": "\n".join(texts), "params": params or {}}
    )
    return body, files


def _integral_numbers(value: JsonObject) -> JsonObject:
    """``value`` with whole floats as ints: protobuf clients send every number as a double
    (``google.protobuf.Value``), so ``{"top": 5}`` arrives as ``5.0``; JSON Schema counts
    both as integers, but the handler should see the ``5`` the buyer wrote."""

    def whole(item: JsonValue) -> JsonValue:
        if isinstance(item, float) and item.is_integer() and abs(item) <= _MAX_SAFE_INTEGER:
            return int(item)
        if isinstance(item, dict):
            return {key: whole(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [whole(inner) for inner in item]
        return item

    return {key: whole(inner) for key, inner in value.items()}


_MAX_SAFE_INTEGER = 2**53


@dataclass(frozen=True)
class FilePart:
    """A file part of a buyer's message, read: inline bytes, or one of the caller's uploaded
    input files named by its URL. ``where`` is the part's path (``message.parts[2]``)."""

    where: str
    name: str | None
    media_type: str | None
    content: bytes | None = None
    file_id: uuid.UUID | None = None


_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
URL_PARTS_HELP = (
    "agnt does not fetch URLs; send the file's bytes in the part (raw), or upload it "
    "(POST /v1/files) and send its URL {base}/v1/files/{id}"
)


def decode_raw(where: str, raw: str) -> bytes:
    """The bytes of a part's ``raw`` (ProtoJSON ``bytes``: base64, standard or URL-safe,
    padding optional); invalid params naming ``{where}.raw`` if it is not base64."""
    text = "".join(raw.split())
    if len(text) % 4 == 1 or not _BASE64.match(text):
        raise A2AError.invalid_params(
            [FieldViolation(f"{where}.raw", "raw holds the file's bytes as base64")]
        )
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise A2AError.invalid_params(
            [FieldViolation(f"{where}.raw", "raw holds the file's bytes as base64")]
        ) from None


def own_file_id(url: str, base_url: str) -> uuid.UUID | None:
    """The input file id if ``url`` is this API's ``{base_url}/v1/files/{id}``, else ``None``."""
    prefix = f"{base_url.rstrip('/')}/v1/files/"
    if not url.startswith(prefix):
        return None
    rest = urlsplit(url[len(prefix) :])
    if rest.query or rest.fragment or rest.scheme or rest.netloc:
        return None
    try:
        return uuid.UUID(rest.path)
    except ValueError:
        return None


def default_name(position: int, media_type: str | None) -> str:
    """The name of an unnamed file part: ``input-1``, with the media type's extension."""
    extension = mimetypes.guess_extension(media_type.split(";")[0].strip()) if media_type else None
    return f"input-{position + 1}{extension or ''}"


def file_input(where: str, position: int, part: Part, base_url: str) -> FilePart:
    """A file part (``raw`` bytes or a ``url``) as an input file of the order.

    Inline bytes are decoded (stored later); a URL is refused unless it names an input file
    on this API (``{base_url}/v1/files/{id}``): fetching arbitrary URLs from the server
    would let any buyer make it reach inside its network (SSRF).
    """
    if part.raw is not None:
        return FilePart(
            where=where,
            name=part.filename or default_name(position, part.media_type),
            media_type=part.media_type,
            content=decode_raw(where, part.raw),
        )
    url = part.url or ""
    file_id = own_file_id(url, base_url)
    if file_id is None:
        help_text = URL_PARTS_HELP.replace("{base}", base_url.rstrip("/"))
        raise A2AError.invalid_params([FieldViolation(f"{where}.url", help_text)])
    return FilePart(where=where, name=part.filename, media_type=part.media_type, file_id=file_id)
