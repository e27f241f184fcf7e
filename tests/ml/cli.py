"""Run `python -m ml` in a subprocess, as a user would, with a minimal environment."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_ml(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "ml", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )
