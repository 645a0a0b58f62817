"""The command handler: runs a program per job, argv built from a template, never a shell.

``argv = ["summarize", "--lang", "{params.lang}", "{prompt}"]``: each element is one
argument; ``{prompt}``, ``{job_id}``, ``{agent_id}``, ``{output_dir}``, ``{work_dir}``,
``{inputs}`` (the directory holding the job's input files) and ``{params.NAME}`` are
replaced (``{{``/``}}`` are literal braces). The prompt is also on stdin. The environment
is an allow-list (see ``handlers.environment``): a minimal base, the manifest's
``env``/``pass_env``/``secrets``, and ``AGNT_JOB_ID``, ``AGNT_AGENT_ID``,
``AGNT_PARAMS_JSON``, ``AGNT_OUTPUT_DIR``, ``AGNT_WORK_DIR`` and ``AGNT_INPUT_DIR``; never
the executor's key.
A line ``AGNT_PROGRESS <n>`` on stderr reports progress; every other stderr line goes to
the buyer's live log (masked), and stdout's lines too with ``stream_stdout = true``. stdout
and stderr are saved as result files unless the manifest says ``stdout_file = false`` /
``stderr_file = false``; a failure reason ends with the (masked) tail of stderr either way.

Buyer text after an option belongs in the same element (``"--lang={params.lang}"``): as a
separate element, a value such as ``--output=/etc/x`` would be parsed as an option.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agnt_executor import supervisor
from agnt_executor.handlers.base import HandlerError, JobCanceled, JobContext
from agnt_executor.handlers.environment import EnvironmentSettings, child_environment
from agnt_executor.leftovers import record_process_group
from agnt_executor.masking import SecretMasker
from agnt_models.common import MAX_REASON_CHARS

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PARAM_NAME = re.compile(r"^params\.([A-Za-z0-9_.-]+)$")
_FIXED_PLACEHOLDERS = frozenset(
    {"prompt", "job_id", "agent_id", "output_dir", "work_dir", "inputs"}
)
_PROGRESS_LINE = re.compile(rb"^AGNT_PROGRESS[ =:]\s*(\d{1,3})\s*$")
STDERR_TAIL_CHARS = 2000
"""At most this much of stderr's end goes into a failure reason (which is itself bounded)."""
STREAM_DRAIN_SECONDS = 5.0
LOG_LINE_BYTES = 16384
"""A longer output line goes to the live log in pieces of this many bytes."""
_STDIN_DISCARD_ERRORS = (BrokenPipeError, ConnectionResetError)

FileName = Annotated[str, StringConstraints(pattern=r"^[^/\\]+$"), Field(min_length=1)]


def stream_file_setting(value: object, default: object) -> object:
    """A manifest's ``false`` turns a saved stream off (TOML has no null); ``true`` keeps
    the default name."""
    if value is False:
        return None
    if value is True:
        return default
    return value


class CommandSettings(EnvironmentSettings):
    """Manifest settings of a ``command`` handler."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["command"] = "command"
    argv: list[str] = Field(min_length=1, description="Program and arguments, one per element.")
    stdin: Literal["prompt", "none"] = "prompt"
    param_defaults: dict[str, JsonValue] = Field(
        default_factory=dict, description="Values for {params.NAME} when the job has no NAME."
    )
    timeout_seconds: float | None = Field(default=600.0, gt=0)
    kill_grace_seconds: float = Field(default=5.0, ge=0)
    stdout_file: FileName | None = Field(
        default="stdout.txt", description="Result file for stdout; false keeps stdout private."
    )
    stderr_file: FileName | None = Field(
        default="stderr.txt", description="Result file for stderr; false keeps stderr private."
    )
    stream_stdout: bool = Field(
        default=False, description="Also send stdout's lines to the buyer's live log."
    )

    @field_validator("stdout_file", "stderr_file", mode="before")
    @classmethod
    def _false_turns_off(cls, value: object, info: ValidationInfo) -> object:
        return stream_file_setting(value, cls.model_fields[str(info.field_name)].default)

    @model_validator(mode="after")
    def _placeholders_known(self) -> Self:
        for template in self.argv:
            for name in _placeholder_names(template):
                if name not in _FIXED_PLACEHOLDERS and not _PARAM_NAME.match(name):
                    known = ", ".join(sorted(f"{{{n}}}" for n in _FIXED_PLACEHOLDERS))
                    raise ValueError(
                        f"unknown placeholder {{{name}}} in {template!r}; "
                        f"use {known} or {{params.NAME}}"
                    )
        return self


def _placeholder_names(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) is not None]


def render_argument(template: str, values: Mapping[str, str]) -> str:
    """Fill one argv template; a ``{params.NAME}`` without a value is a ``HandlerError``."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name in values:
            return values[name]
        param = _PARAM_NAME.match(name)
        label = f"param '{param.group(1)}'" if param else f"placeholder {{{name}}}"
        raise HandlerError(f"the command needs {label}, which the job does not have")

    return _PLACEHOLDER.sub(substitute, template)


def _as_argument(value: JsonValue) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class CommandHandler:
    """Runs ``settings.argv`` as a child process per job (its own process group).

    On Linux the group's leader is ``agnt_executor.supervisor``, so the command dies with
    the executor even when the executor is SIGKILLed.
    """

    def __init__(self, settings: CommandSettings, base_dir: Path) -> None:
        """``base_dir`` resolves a relative program path like ``./bin/agent``."""
        self.settings = settings
        program = settings.argv[0]
        if "/" in program and not Path(program).is_absolute() and not _placeholder_names(program):
            program = str((base_dir / program).resolve())
        self._program = program

    def unavailable_reason(self) -> str | None:
        """Why no job can run: the program is not installed or not executable."""
        if _placeholder_names(self._program):
            return None
        if shutil.which(self._program) is None:
            return f"command '{self._program}' is not installed here (not found or not executable)"
        return None

    def render_argv(self, ctx: JobContext) -> list[str]:
        """The job's argv: every template element filled from the job."""
        values = {
            "prompt": ctx.job.prompt,
            "job_id": str(ctx.job.id),
            "agent_id": ctx.job.agent_id,
            "output_dir": str(ctx.output_dir),
            "work_dir": str(ctx.work_dir),
            # The directory, not the files: one argument whatever the count (a tool that
            # wants each file can take the directory, or read $AGNT_INPUT_DIR).
            "inputs": str(ctx.input_dir or ""),
        }
        params = {**self.settings.param_defaults, **ctx.job.params}
        values.update({f"params.{k}": _as_argument(v) for k, v in params.items()})
        return [render_argument(t, values) for t in [self._program, *self.settings.argv[1:]]]

    def job_environment(self, ctx: JobContext) -> dict[str, str]:
        """The child's environment: the allow-listed base, what the manifest names, job vars.

        Never the executor's ``AGNT_API_KEY`` or ``AGNT_API_URL``, nor anything unnamed.
        """
        return child_environment(
            self.settings,
            {
                "AGNT_JOB_ID": str(ctx.job.id),
                "AGNT_AGENT_ID": ctx.job.agent_id,
                "AGNT_PARAMS_JSON": json.dumps(ctx.job.params),
                "AGNT_OUTPUT_DIR": str(ctx.output_dir),
                "AGNT_WORK_DIR": str(ctx.work_dir),
                **({"AGNT_INPUT_DIR": str(ctx.input_dir)} if ctx.input_dir else {}),
            },
        )

    async def run(self, ctx: JobContext) -> None:
        """Run the command to its end; non-zero exit, time-out or cancel raise."""
        argv = self.render_argv(ctx)
        environment = self.job_environment(ctx)
        spawned = argv
        if supervisor.available():
            # The supervisor reports a missing program only as an exit status: check first.
            if shutil.which(argv[0], path=environment.get("PATH", os.defpath)) is None:
                raise HandlerError(f"cannot start command '{argv[0]}': not found or not executable")
            spawned = supervisor.supervised_argv(
                argv, grace=self.settings.kill_grace_seconds, work_dir=str(ctx.work_dir)
            )
        stdout_path = _stream_path(ctx, self.settings.stdout_file, ".stdout")
        stderr_path = _stream_path(ctx, self.settings.stderr_file, ".stderr")
        with stdout_path.open("wb") as stdout_file:
            try:
                process = await asyncio.create_subprocess_exec(
                    *spawned,
                    stdin=asyncio.subprocess.PIPE
                    if self.settings.stdin == "prompt"
                    else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE if self.settings.stream_stdout else stdout_file,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=ctx.work_dir,
                    env=environment,
                    start_new_session=True,  # its own group: a cancel reaches grandchildren too
                )
            except OSError as exc:
                raise HandlerError(f"cannot start command '{argv[0]}': {exc.strerror}") from exc
        # For the next executor start, should this one die without its supervisor's help.
        record_process_group(ctx.work_dir, process.pid)
        try:
            await self._supervise(process, ctx, stderr_path, stdout_path)
        finally:
            if process.returncode is None:
                _signal_group(process, signal.SIGKILL)
                await process.wait()
        self._raise_on_failure(process, stderr_path)

    async def _supervise(
        self,
        process: asyncio.subprocess.Process,
        ctx: JobContext,
        stderr_path: Path,
        stdout_path: Path,
    ) -> None:
        feeders = [asyncio.create_task(_pump_output(process.stderr, stderr_path, ctx, "stderr"))]
        if process.stdout is not None:
            feeders.append(
                asyncio.create_task(_pump_output(process.stdout, stdout_path, ctx, "stdout"))
            )
        if process.stdin is not None:
            feeders.append(asyncio.create_task(_feed_stdin(process, ctx.job.prompt)))
        exited = asyncio.create_task(process.wait())
        canceled = asyncio.create_task(ctx.wait_canceled())
        try:
            done, _ = await asyncio.wait(
                {exited, canceled},
                timeout=self.settings.timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if exited not in done:
                await self._terminate(process)
                if canceled in done:
                    raise JobCanceled(f"job {ctx.job.id} was canceled; the command was stopped")
                raise HandlerError(f"command timed out after {self.settings.timeout_seconds:g} s")
            # A grandchild that outlives the command may hold stderr open: do not wait forever.
            await asyncio.wait(feeders, timeout=STREAM_DRAIN_SECONDS)
        finally:
            canceled.cancel()
            for task in feeders:
                task.cancel()
            await asyncio.gather(exited, canceled, *feeders, return_exceptions=True)

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM the process group, then SIGKILL it if it outlives the grace period."""
        _signal_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.settings.kill_grace_seconds)
        except TimeoutError:
            _signal_group(process, signal.SIGKILL)
            await process.wait()

    def _raise_on_failure(self, process: asyncio.subprocess.Process, stderr_path: Path) -> None:
        code = process.returncode
        if code == 0:
            return
        if code is not None and code < 0:
            message = f"command was killed by signal {signal.Signals(-code).name}"
        else:
            message = f"command exited with status {code}"
        budget = min(STDERR_TAIL_CHARS, MAX_REASON_CHARS - len(message) - 2)
        masker = SecretMasker(self.settings.secret_values())
        tail = stderr_tail(stderr_path, budget, masker)
        raise HandlerError(f"{message}: {tail}" if tail else message)


def _stream_path(ctx: JobContext, result_name: str | None, private_name: str) -> Path:
    return ctx.output_dir / result_name if result_name else ctx.work_dir / private_name


def _signal_group(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


async def _feed_stdin(process: asyncio.subprocess.Process, prompt: str) -> None:
    stdin = process.stdin
    if stdin is None:
        return
    # A program that ignores stdin may exit before reading it: that is not an error.
    with contextlib.suppress(*_STDIN_DISCARD_ERRORS):
        stdin.write(prompt.encode("utf-8"))
        await stdin.drain()
    with contextlib.suppress(*_STDIN_DISCARD_ERRORS):
        stdin.close()
        await stdin.wait_closed()


async def _pump_output(
    stream: asyncio.StreamReader | None,
    path: Path,
    ctx: JobContext,
    name: Literal["stderr", "stdout"],
) -> None:
    """Copy a child's output to ``path`` and its lines to the live log.

    On stderr, ``AGNT_PROGRESS <n>`` lines become progress reports instead of log lines.
    """
    if stream is None:
        return
    pending = b""
    with path.open("wb") as sink:
        while chunk := await stream.read(65536):
            sink.write(chunk)
            sink.flush()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _forward_line(line.rstrip(b"\r"), ctx, name)
            while len(pending) > LOG_LINE_BYTES:
                # One unbroken run of output: sent in pieces, never buffered whole.
                _forward_line(pending[:LOG_LINE_BYTES], ctx, name)
                pending = pending[LOG_LINE_BYTES:]
        if pending:
            _forward_line(pending.rstrip(b"\r"), ctx, name)


def _forward_line(line: bytes, ctx: JobContext, name: Literal["stderr", "stdout"]) -> None:
    if name == "stderr" and (match := _PROGRESS_LINE.match(line)):
        ctx.report_progress(int(match.group(1)))
        return
    ctx.report_log(line.decode("utf-8", errors="replace"), name)


def stderr_tail(path: Path, budget: int, masker: SecretMasker) -> str:
    """The end of stderr for a failure reason: at most ``budget`` characters, secrets masked.

    The text is masked before it is cut, and a cut never leaves a word's end behind: a
    secret split by the cut would otherwise show its last characters unmasked.
    """
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            start = max(0, f.tell() - budget * 4 - 4096)
            f.seek(start)
            text = masker.mask_text(f.read().decode("utf-8", errors="replace")).strip()
    except OSError:
        return ""
    if start == 0 and len(text) <= budget:
        return text
    text = text[-budget:]
    first_space = next((i for i, c in enumerate(text) if c.isspace()), None)
    if first_space is None:
        return "(stderr ends in one unbroken run of characters; not shown)"
    return text[first_space:].lstrip()
