#!/usr/bin/env python
"""``jsymnet-test`` from a source checkout: see jsymnet/cli/test.py (``--help``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsymnet.cli.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
