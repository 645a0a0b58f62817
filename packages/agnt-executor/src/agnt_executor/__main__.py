"""``python -m agnt_executor run MANIFEST``: the same as ``agnt-executor``."""

import sys

from agnt_executor.cli import main

sys.exit(main())
