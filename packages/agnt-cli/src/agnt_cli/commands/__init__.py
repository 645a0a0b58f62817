"""The ``agnt`` subcommands, one module per resource."""
