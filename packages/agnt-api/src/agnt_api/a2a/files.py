"""A2A file parts as input files: checked against the server's limits and the agent's
``input_files`` rule before anything is stored, then stored like ``POST /v1/files``
(owner: the calling buyer), and deleted again if the order then fails.

Every refusal is invalid params naming the part (``message.parts[2]``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import sqlalchemy as sa

from agnt_api.a2a.errors import A2AError, FieldViolation
from agnt_api.a2a.tasks import FilePart
from agnt_api.auth import Principal
from agnt_api.db.tables import idempotency_keys
from agnt_api.runtime import Runtime
from agnt_api.services import input_files
from agnt_api.services.results import mime_of
from agnt_api.services.transitions import buyer_scope, load_job
from agnt_models import InputFilesRule, InputRef, Job, ResultNames
from agnt_models.errors import ErrorCode

INLINE_FILE_BYTES = 32 * 1024 * 1024
"""The most bytes of inline file parts a JSON-RPC request may carry (the body is read
whole): larger files go through ``POST /v1/files`` and a URL part naming them."""


def rpc_body_limit(max_body_bytes: int, max_input_bytes: int) -> int:
    """The largest JSON-RPC body: a message and its inline files, base64-encoded."""
    inline = min(max_input_bytes, INLINE_FILE_BYTES)
    return max_body_bytes + 4 * ((inline + 2) // 3)


def _refuse(where: str, message: str) -> A2AError:
    return A2AError.invalid_params([FieldViolation(where, message)])


def check_parts(
    files: list[FilePart], rule: InputFilesRule | None, *, max_files: int, max_bytes: int
) -> None:
    """Refuse, naming the part, what ``POST /v1/files`` and the order would refuse: too many
    files, a bad or repeated name, a media type the agent does not take, too many bytes.

    Uploaded files (URL parts) are checked by their stored size and type by the order.
    """
    names = ResultNames()
    total = 0
    for position, file in enumerate(files):
        if position >= max_files:
            raise _refuse(file.where, f"an order carries at most {max_files} input files")
        if rule is not None and position >= rule.max:
            raise _refuse(file.where, f"this agent takes at most {rule.max} input file(s)")
        if file.name is not None:
            try:
                names.add(file.name)
            except ValueError as exc:
                raise _refuse(f"{file.where}.filename", str(exc)) from None
        if file.content is None:
            continue
        media_type = mime_of(file.name or "", file.media_type)
        if rule is not None and not rule.allows_media_type(media_type):
            allowed = ", ".join(rule.media_types)
            raise _refuse(
                f"{file.where}.mediaType",
                f"this agent does not take {media_type} files (it takes: {allowed})",
            )
        total += len(file.content)
        if total > max_bytes:
            raise _refuse(
                f"{file.where}.raw",
                f"input files may hold at most {max_bytes} bytes together",
            )


async def _one_chunk(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def store_parts(
    rt: Runtime, caller: Principal, agent_id: str, files: list[FilePart], uploaded: list[uuid.UUID]
) -> list[InputRef]:
    """Check the file parts, store the inline ones (appending their ids to ``uploaded`` so
    the caller can delete them if the order fails) and answer the order's inputs."""
    if not files:
        return []
    rule = await rt.database.run(input_files.agent_rule, agent_id)
    settings = rt.settings
    check_parts(files, rule, max_files=settings.max_input_files, max_bytes=settings.max_input_bytes)
    refs: list[InputRef] = []
    for file in files:
        if file.content is None:
            assert file.file_id is not None
            refs.append(InputRef(file_id=file.file_id, name=file.name))
            continue
        assert file.name is not None
        stored = await input_files.upload_input_file(
            rt,
            caller,
            file.name,
            file.media_type,
            _one_chunk(file.content),
            limit=settings.max_input_bytes,
        )
        uploaded.append(stored.id)
        refs.append(InputRef(file_id=stored.id))
    return refs


INPUT_ERRORS = frozenset(
    {
        ErrorCode.INPUT_FILE_NOT_FOUND,
        ErrorCode.INPUT_TOO_LARGE,
        ErrorCode.TOO_MANY_INPUT_FILES,
        ErrorCode.INPUT_FILES_NOT_ACCEPTED,
    }
)
"""agnt's errors about an order's inputs: in A2A terms, about the message's file parts."""


def earlier_order(connection: sa.Connection, caller: Principal, key: str) -> Job | None:
    """The job an earlier message with this idempotency key ordered, if there was one.

    A resent message with inline files would upload them again under new ids, so its
    order could never match the first: it is answered with the first message's task
    before anything is stored.
    """
    job_id = connection.execute(
        sa.select(idempotency_keys.c.job_id).where(
            idempotency_keys.c.buyer_id == caller.id, idempotency_keys.c.key == key
        )
    ).scalar_one_or_none()
    if job_id is None:
        return None
    return load_job(connection, job_id, buyer_scope(caller))
