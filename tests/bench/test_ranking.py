"""bench/ranking.py: one JSON line with each pair's per-frame cost, and the report, on a small synthetic set."""

import json
import subprocess
import sys
from pathlib import Path

from ml.synthetic import write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_the_ranking_bench_times_every_pair_and_writes_its_report(tmp_path):
    data = write_synthetic_dataset(tmp_path / "src", n_train=1, n_val=3, seed=4, shape=(64, 64))
    report = tmp_path / "ranking.md"
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "ranking.py"),
            "--data",
            str(data),
            "--limit",
            "3",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["bench"] == "ranking" and line["frames"] == 3
    pairs = [k for k, v in line.items() if isinstance(v, dict)]
    assert len(pairs) == 4 and all(line[k]["ms_median"] > 0 and 0 <= line[k]["mean_score"] <= 1 for k in pairs)
    assert "| EDGSP (cold start compared) | detector candidates |" in report.read_text()
