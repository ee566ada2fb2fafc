"""Puts the repository root on `sys.path`, so a benchmark run as `python bench/NAME.py`
imports the test harnesses under tests/ (import this first)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
