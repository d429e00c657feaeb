"""The repository's `benchmarks` package first on sys.path: cchecksum installs a stray
top-level `benchmarks` into site-packages, which a bare `pytest` (no repository root on
sys.path, unlike `python -m pytest`) would import instead."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
