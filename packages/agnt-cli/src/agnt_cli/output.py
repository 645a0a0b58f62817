"""The two streams: one JSON document on stdout, one JSON error object on stderr.

stdout is pretty-printed for a person at a terminal and compact (one line) for a pipe;
nothing else is ever written there, so ``agnt ... | jq`` always works.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from agnt_cli import __version__
from agnt_cli.errors import CliError


def _can_write_unicode(stream: TextIO) -> bool:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return encoding == "utf8"


def render_json(document: Any, *, pretty: bool, ascii_only: bool = False) -> str:
    """``document`` as JSON text: indented when ``pretty``, else one compact line."""
    if pretty:
        return json.dumps(document, indent=2, ensure_ascii=ascii_only, allow_nan=False)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=ascii_only, allow_nan=False)


def print_document(document: Any) -> None:
    """Write the call's one JSON document on stdout."""
    stream = sys.stdout
    text = render_json(document, pretty=stream.isatty(), ascii_only=not _can_write_unicode(stream))
    stream.write(text + "\n")
    stream.flush()


def print_error(error: CliError) -> None:
    """Write ``{"error": {"code", "message", "status"}}`` on stderr, one line."""
    stream = sys.stderr
    text = render_json(error.to_document(), pretty=False, ascii_only=not _can_write_unicode(stream))
    stream.write(text + "\n")
    stream.flush()


def version_document() -> dict[str, str]:
    """What ``agnt --version`` prints."""
    python = ".".join(str(part) for part in sys.version_info[:3])
    return {"name": "agnt", "version": __version__, "python": python}


def stderr_is_terminal() -> bool:
    """Whether progress may be drawn: only for a person watching stderr."""
    return sys.stderr.isatty()
