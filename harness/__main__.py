"""`python -m harness`: the command line of harness/cli/main.py, as the `mnist8k` script runs it."""

import sys

from harness.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
