"""Where the tests find the project and its committed data: inside the clone, nothing beside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data"  # the committed sample (scale 0.01)
SEED_SAMPLE = ROOT / "tests" / "data" / "seed-sample"  # the original system's seven reference tables
