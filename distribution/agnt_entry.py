"""What the frozen `agnt` executable runs: the same entry point as the `agnt` console script."""

from agnt_cli.main import run

run()
