"""Entry point of the ``agnt`` console script.

``agnt --version`` is answered here, before typer is imported: scripts and installers
call it often, and typer's import alone is most of the start-up time. Everything else
goes to the typer application in ``agnt_cli.app``.
"""

from __future__ import annotations

import sys


def run() -> None:
    """Run ``agnt`` with the process's arguments and exit with its exit code."""
    if sys.argv[1:] == ["--version"]:
        from agnt_cli.output import print_document, version_document

        print_document(version_document())
        sys.exit(0)
    from agnt_cli.app import main

    sys.exit(main())
