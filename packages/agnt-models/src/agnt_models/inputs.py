"""Input files: what a buyer uploads for a job, how an order names them, what an agent takes.

An input file is uploaded once (``POST /v1/files``) and referenced by id from an order
(``JobCreate.inputs``); a file no job uses expires. Names follow the result-file rule
(``agnt_models.files``): the executor writes each input under its name into the job's
input directory.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Field, StringConstraints, model_validator
from pydantic.types import UUID4

from agnt_models.common import WireModel
from agnt_models.files import ResultFileName

MAX_INPUT_FILES_RULE = 1_000
"""The largest ``max`` an agent may declare (the API's own ``AGNT_MAX_INPUT_FILES`` still applies)."""


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


MediaTypePattern = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$",
        max_length=255,
    ),
]
"""A media type (``application/pdf``) or a type with any subtype (``image/*``)."""

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class InputFile(WireModel):
    """An uploaded input file (``POST /v1/files``, ``GET /v1/files/{id}``).

    ``expires_at`` is when it is deleted unless a job uses it first; null once a job does
    (it then lives as long as the job).
    """

    id: UUID4
    name: ResultFileName
    size: int = Field(ge=0)
    sha256: Sha256Hex
    media_type: str
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None


class InputRef(WireModel):
    """One input of an order: an uploaded file's id and, optionally, the name the job sees
    (default: the name it was uploaded with)."""

    file_id: UUID4
    name: ResultFileName | None = None


class JobInput(WireModel):
    """One input of a job as its buyer and its executor read it (``GET .../inputs``).

    ``download_url`` is absolute: a presigned S3 URL, or the API's own input route (which
    needs the caller's key).
    """

    name: str
    size: int = Field(ge=0)
    sha256: Sha256Hex
    media_type: str
    download_url: str


class JobInputs(WireModel):
    """``GET /v1/jobs/{id}/inputs`` and ``GET /v1/executor/jobs/{id}/inputs``."""

    job_id: UUID4
    files: list[JobInput]


class InputFilesRule(WireModel):
    """What input files an agent takes (``AgentPublish.input_files``), checked at order time.

    ``media_types``: allowed types, ``type/*`` for any subtype; empty allows every type.
    """

    min: int = Field(default=0, ge=0, le=MAX_INPUT_FILES_RULE)
    max: int = Field(default=10, ge=0, le=MAX_INPUT_FILES_RULE)
    media_types: list[MediaTypePattern] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> InputFilesRule:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self

    def allows_media_type(self, media_type: str) -> bool:
        """Whether a file of ``media_type`` (parameters ignored) is one this agent takes."""
        if not self.media_types:
            return True
        bare = media_type.split(";", 1)[0].strip().lower()
        return any(fnmatch.fnmatchcase(bare, pattern) for pattern in self.media_types)

    def problem(self, media_types: list[str]) -> str | None:
        """Why inputs of these types (one per file) break the rule, or ``None``."""
        count = len(media_types)
        if count < self.min:
            return f"this agent needs at least {self.min} input file(s); the order has {count}"
        if count > self.max:
            return f"this agent takes at most {self.max} input file(s); the order has {count}"
        for media_type in media_types:
            if not self.allows_media_type(media_type):
                allowed = ", ".join(self.media_types)
                return f"this agent does not take {media_type} files (it takes: {allowed})"
        return None
