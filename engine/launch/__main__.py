"""`python -m engine.launch ...`: the launcher's command line (cli.py)."""

import sys

from engine.launch.cli import main

sys.exit(main())
