"""Entry point of the ``agnt`` console script.

``agnt --version`` is answered here, before typer is imported: scripts and installers
call it often, and typer's import alone is most of the start-up time. Everything else
goes to the typer application in ``agnt_cli.app``.
"""

from __future__ import annotations

import sys


def run() -> None:
    """Run ``agnt`` with the process's arguments and exit with its exit code."""
    try:
        if sys.argv[1:] == ["--version"]:
            from agnt_cli.output import print_document, version_document

            print_document(version_document())
            code = 0
        else:
            from agnt_cli.app import main

            code = main()
    except KeyboardInterrupt:
        # Ctrl-C outside a command (while starting up): still one JSON error, exit 130.
        from agnt_cli.errors import interrupted
        from agnt_cli.output import print_error

        error = interrupted()
        print_error(error)
        code = error.exit_code
    sys.exit(code)
