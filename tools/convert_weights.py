#!/usr/bin/env python
"""``jsymnet-convert`` from a source checkout: see jsymnet/cli/convert.py (``--help``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jsymnet.cli.convert import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
