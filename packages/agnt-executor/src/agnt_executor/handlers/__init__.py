"""Handlers run jobs: ``command`` (any program), ``gemini`` (the Gemini CLI), ``python``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from agnt_executor.handlers.base import Handler, HandlerError, JobCanceled, JobContext
from agnt_executor.handlers.command import CommandHandler, CommandSettings
from agnt_executor.handlers.gemini import GeminiHandler, GeminiSettings
from agnt_executor.handlers.python import (
    PythonHandler,
    PythonHandlerImportError,
    PythonSettings,
)

HandlerSettings = Annotated[
    CommandSettings | GeminiSettings | PythonSettings, Field(discriminator="type")
]
"""A manifest's ``[agents.handler]`` table; ``type`` picks the handler."""


def build_handler(settings: HandlerSettings, base_dir: Path) -> Handler:
    """The handler for ``settings``; relative paths resolve against ``base_dir``."""
    if isinstance(settings, CommandSettings):
        return CommandHandler(settings, base_dir)
    if isinstance(settings, GeminiSettings):
        return GeminiHandler(settings, base_dir)
    return PythonHandler(settings, base_dir)


__all__ = [
    "CommandHandler",
    "CommandSettings",
    "GeminiHandler",
    "GeminiSettings",
    "Handler",
    "HandlerError",
    "HandlerSettings",
    "JobCanceled",
    "JobContext",
    "PythonHandler",
    "PythonHandlerImportError",
    "PythonSettings",
    "build_handler",
]
