"""The ``agnt`` subcommands, one module per resource.

These modules (and ``agnt_cli.app``) deliberately do not use ``from __future__ import
annotations``: typer would then ``eval`` every string annotation twice per command while
building the command tree, which is most of ``agnt --help``'s own start-up time.
"""
