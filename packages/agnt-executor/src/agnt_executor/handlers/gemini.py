"""The Gemini handler: the command handler running the Gemini CLI in headless mode.

Per job it runs ``gemini --model=MODEL [extra args] --prompt=PROMPT`` and keeps the answer
(stdout) as ``answer.md``. The model comes from the job's ``model`` param, else the
manifest's ``model``. Authentication is the Gemini CLI's own: ``GEMINI_API_KEY`` or
``GOOGLE_API_KEY`` from the executor's environment (always passed, as masked secrets), the
Vertex AI / Google Cloud variables, or its credential store under ``$HOME/.gemini``. Like
every handler it sees nothing else of the executor's environment (``handlers.environment``):
the manifest's ``env``/``pass_env``/``secrets`` add to the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from agnt_executor.handlers.base import HandlerError, JobContext
from agnt_executor.handlers.command import (
    CommandHandler,
    CommandSettings,
    FileName,
    stream_file_setting,
)
from agnt_executor.handlers.environment import EnvironmentSettings

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"

GEMINI_SECRETS: tuple[str, ...] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
"""The Gemini CLI's API keys: passed when set, and masked."""

GEMINI_PASS_ENV: tuple[str, ...] = (
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_GCA",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GEMINI_CLI_HOME",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
)
"""What else the Gemini CLI (a Node program) reads: Vertex AI / Cloud settings, its config
home, a corporate CA, proxies. Passed when set."""


class GeminiSettings(EnvironmentSettings):
    """Manifest settings of a ``gemini`` handler."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["gemini"] = "gemini"
    binary: str = "gemini"
    model: str = DEFAULT_GEMINI_MODEL
    extra_args: list[str] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=600.0, gt=0)
    answer_file: FileName = "answer.md"
    stderr_file: FileName | None = Field(
        default="gemini-stderr.txt",
        description="Result file for the CLI's stderr; false keeps it private.",
    )

    @field_validator("stderr_file", mode="before")
    @classmethod
    def _false_turns_off(cls, value: object, info: ValidationInfo) -> object:
        return stream_file_setting(value, cls.model_fields[str(info.field_name)].default)

    def secret_values(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """The manifest's secrets and the Gemini CLI's API keys, as set."""
        return self.as_command().secret_values(environ)

    def as_command(self) -> CommandSettings:
        """The equivalent command settings (what actually runs)."""
        return CommandSettings(
            # "--flag=value" keeps buyer text a value: a prompt such as "--yolo" must not
            # become an option of the CLI.
            argv=[self.binary, "--model={params.model}", *self.extra_args, "--prompt={prompt}"],
            stdin="none",  # the CLI appends stdin to --prompt; the prompt must appear once
            env=self.env,
            pass_env=_union(GEMINI_PASS_ENV, self.pass_env, without=tuple(self.env)),
            secrets=_union(GEMINI_SECRETS, self.secrets, without=()),
            param_defaults={"model": self.model},
            timeout_seconds=self.timeout_seconds,
            stdout_file=self.answer_file,
            stderr_file=self.stderr_file,
        )


def _union(built_in: tuple[str, ...], named: list[str], *, without: tuple[str, ...]) -> list[str]:
    """The manifest's names plus the built-in ones not already there (nor set in ``env``)."""
    extra = [name for name in built_in if name not in named and name not in without]
    return [*named, *extra]


class GeminiHandler:
    """Answers a job's prompt with the Gemini CLI."""

    def __init__(self, settings: GeminiSettings, base_dir: Path) -> None:
        """``base_dir`` resolves a relative ``binary`` path."""
        self.settings = settings
        self._command = CommandHandler(settings.as_command(), base_dir)

    def unavailable_reason(self) -> str | None:
        """A clear reason when the Gemini CLI is not installed."""
        if self._command.unavailable_reason() is None:
            return None
        return (
            f"the Gemini CLI ('{self.settings.binary}') is not installed on this executor; "
            "install it with `npm install -g @google/gemini-cli`"
        )

    async def run(self, ctx: JobContext) -> None:
        """Run the CLI; an empty answer fails the job."""
        reason = self.unavailable_reason()
        if reason is not None:
            raise HandlerError(reason)
        await self._command.run(ctx)
        answer = ctx.output_dir / self.settings.answer_file
        if not answer.exists() or not answer.read_text(errors="replace").strip():
            raise HandlerError("the Gemini CLI exited successfully but returned an empty answer")
