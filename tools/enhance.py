#!/usr/bin/env python
"""``jsymnet-enhance`` from a source checkout: see jsymnet/cli/enhance.py (``--help``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsymnet.cli.enhance import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
