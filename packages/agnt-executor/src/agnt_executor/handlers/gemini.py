"""The Gemini handler: the command handler running the Gemini CLI in headless mode.

Per job it runs ``gemini --model=MODEL [extra args] --prompt=PROMPT`` and keeps the answer
(stdout) as ``answer.md``. The model comes from the job's ``model`` param, else the
manifest's ``model``. Authentication is the Gemini CLI's own (``GEMINI_API_KEY`` in ``env``
or its credential store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agnt_executor.handlers.base import HandlerError, JobContext
from agnt_executor.handlers.command import CommandHandler, CommandSettings, FileName

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"


class GeminiSettings(BaseModel):
    """Manifest settings of a ``gemini`` handler."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["gemini"] = "gemini"
    binary: str = "gemini"
    model: str = DEFAULT_GEMINI_MODEL
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=600.0, gt=0)
    answer_file: FileName = "answer.md"

    def as_command(self) -> CommandSettings:
        """The equivalent command settings (what actually runs)."""
        return CommandSettings(
            # "--flag=value" keeps buyer text a value: a prompt such as "--yolo" must not
            # become an option of the CLI.
            argv=[self.binary, "--model={params.model}", *self.extra_args, "--prompt={prompt}"],
            stdin="none",  # the CLI appends stdin to --prompt; the prompt must appear once
            env=self.env,
            param_defaults={"model": self.model},
            timeout_seconds=self.timeout_seconds,
            stdout_file=self.answer_file,
            stderr_file="gemini-stderr.txt",
        )


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
