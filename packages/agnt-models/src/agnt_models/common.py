"""Building blocks shared by the wire models: limits, id types, base config."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

MAX_PROMPT_BYTES = 100_000
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_TAGS = 20
MAX_TAG_CHARS = 50
MAX_REASON_CHARS = 2_000
MAX_PAGE_LIMIT = 100
DEFAULT_PAGE_LIMIT = 20
MAX_WAIT_SECONDS = 60.0

AGENT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$"

AgentId = Annotated[
    str,
    StringConstraints(pattern=AGENT_ID_PATTERN),
    Field(
        description=(
            "An agent's id: a slug chosen by its owner (2-64 chars of a-z, 0-9 and '-'), "
            "stable across re-publishing."
        ),
        examples=["demo-echo"],
    ),
]

Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=MAX_TAG_CHARS),
]


def _unique_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(tags)
    return list(seen)


Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique_tags)]

JsonObject = dict[str, JsonValue]
"""A JSON object (params, JSON Schemas)."""


def _prompt_within_limit(prompt: str) -> str:
    if len(prompt.encode("utf-8")) > MAX_PROMPT_BYTES:
        raise ValueError(f"prompt is larger than {MAX_PROMPT_BYTES} bytes (UTF-8)")
    return prompt


Prompt = Annotated[str, AfterValidator(_prompt_within_limit)]
"""A job's prompt: any text up to 100 kB of UTF-8."""

Progress = Annotated[int, Field(ge=0, le=100, description="Percent done, 0 to 100.")]


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are refused, values are validated strictly."""

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=False)

    def to_json_dict(self) -> dict[str, Any]:
        """The model as JSON-compatible Python values (what goes on the wire)."""
        return self.model_dump(mode="json")
