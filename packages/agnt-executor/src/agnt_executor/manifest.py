"""The manifest: which agents an executor serves, how it runs each, and when it accepts a job.

```toml
[executor]
concurrency = 2

[[agents]]
id = "shout"
name = "Shout"
tags = ["text"]
input_schema = { type = "object", properties = { lang = { type = "string" } } }
handler = { type = "command", argv = ["tr", "a-z", "A-Z"] }
accept = { max_prompt_bytes = 10000 }
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agnt_executor.handlers import (
    Handler,
    HandlerSettings,
    PythonHandlerImportError,
    build_handler,
)
from agnt_executor.log_forwarder import MAX_LOG_BYTES_PER_JOB
from agnt_executor.masking import SecretMasker
from agnt_executor.policy import AcceptPolicy
from agnt_models import MAX_WAIT_SECONDS, AgentId, AgentPublish, Job


class ManifestError(Exception):
    """The manifest cannot be read, parsed or validated; the message says where and why."""


class ExecutorSettings(BaseModel):
    """The ``[executor]`` table: how the runtime behaves (flags override some of these)."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(default=1, ge=1, le=256)
    poll_wait_seconds: float = Field(default=30.0, gt=0, le=MAX_WAIT_SECONDS)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    cancel_grace_seconds: float = Field(
        default=5.0, ge=0, description="How long a canceled handler may take to stop."
    )
    progress_interval_seconds: float = Field(
        default=1.0, gt=0, description="At most one progress report per this many seconds."
    )
    lease_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Lease length; default: read from the accepted job's lease_expires_at.",
    )
    retry_seconds: float = Field(
        default=300.0, gt=0, description="How long one job's API calls retry network errors."
    )
    keep_work_dirs: bool = False
    max_log_bytes_per_job: int = Field(
        default=MAX_LOG_BYTES_PER_JOB,
        ge=0,
        description="Live-log budget per job; later handler output lines are not sent.",
    )


class AgentSpec(AgentPublish):
    """One ``[[agents]]`` entry: the published agent, its handler and its accept policy."""

    id: AgentId
    handler: HandlerSettings
    accept: AcceptPolicy = Field(default_factory=AcceptPolicy)

    @model_validator(mode="after")
    def _rules_under_accept(self) -> Self:
        if self.accept_rules is not None:
            raise ValueError("write the agent's accept rules as `accept`, not `accept_rules`")
        return self

    def publish_body(self) -> AgentPublish:
        """What ``PUT /v1/executor/agents/{id}`` sends: the agent with its accept rules."""
        body = self.model_dump(include=set(AgentPublish.model_fields), mode="json")
        body["accept_rules"] = self.accept.model_dump(mode="json")
        return AgentPublish.model_validate(body)


class Manifest(BaseModel):
    """A whole manifest file."""

    model_config = ConfigDict(extra="forbid")

    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    agents: list[AgentSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_unique(self) -> Self:
        seen: set[str] = set()
        for agent in self.agents:
            if agent.id in seen:
                raise ValueError(f"agent id '{agent.id}' appears twice")
            seen.add(agent.id)
        return self


@dataclass(frozen=True)
class ServedAgent:
    """An agent this executor serves, with its handler ready to run."""

    spec: AgentSpec
    handler: Handler

    @property
    def id(self) -> str:
        """The agent's id."""
        return self.spec.id

    def masker(self, *also: str | None) -> SecretMasker:
        """Masks this agent's secrets (their values now) and ``also`` (the executor's key)."""
        return SecretMasker([*self.spec.handler.secret_values(), *also])

    def rejection_reason(self, job: Job) -> str | None:
        """Why this agent rejects ``job`` (policy, or the handler cannot run here), else None."""
        return self.spec.accept.rejection_reason(job) or self.handler.unavailable_reason()


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest and its agents, keyed by id."""

    path: Path
    manifest: Manifest
    agents: dict[str, ServedAgent]

    @property
    def settings(self) -> ExecutorSettings:
        """The ``[executor]`` settings."""
        return self.manifest.executor

    def unavailable(self) -> dict[str, str]:
        """Agents whose handler cannot run here (a missing binary, say): id -> why."""
        reasons = {
            agent_id: served.handler.unavailable_reason()
            for agent_id, served in self.agents.items()
        }
        return {agent_id: reason for agent_id, reason in reasons.items() if reason is not None}

    def without(self, agent_ids: set[str]) -> LoadedManifest:
        """This manifest serving all but ``agent_ids``."""
        kept = {
            agent_id: served
            for agent_id, served in self.agents.items()
            if agent_id not in agent_ids
        }
        return LoadedManifest(path=self.path, manifest=self.manifest, agents=kept)


def parse_manifest(text: str, *, source: str = "manifest") -> Manifest:
    """Parse and validate manifest TOML; errors name the field (``agents.0.handler.argv``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ManifestError(f"{source}: {problems}") from exc


def load_manifest(path: Path | str) -> LoadedManifest:
    """Read, validate and prepare a manifest file; relative paths resolve next to it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror}") from exc
    manifest = parse_manifest(text, source=str(path))
    base_dir = path.resolve().parent
    agents: dict[str, ServedAgent] = {}
    for spec in manifest.agents:
        try:
            agents[spec.id] = ServedAgent(spec, build_handler(spec.handler, base_dir))
        except PythonHandlerImportError as exc:
            raise ManifestError(f"{path}: agent '{spec.id}': {exc}") from exc
    return LoadedManifest(path=path, manifest=manifest, agents=agents)
