"""`python -m bench.compare` (from the repository root): see bench/compare/__init__.py."""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/compare/__main__.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "bench.compare"  # noqa: A001

from bench.compare.run import main  # noqa: E402

if __name__ == "__main__":
    result = main()
    sys.exit(1 if result["disagreements"] else 2 if result["failures"] else 0)
