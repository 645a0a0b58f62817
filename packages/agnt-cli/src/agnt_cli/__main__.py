"""``python -m agnt_cli`` runs the ``agnt`` command."""

from agnt_cli.main import run

run()
