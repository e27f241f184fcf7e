"""bench/prompting.py on a small synthetic set: every generator prompted three ways, per-target counts, paired
gains, and the report."""

import json
import subprocess
import sys
from pathlib import Path

from ml.synthetic import write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_the_prompting_bench_scores_every_way_and_writes_its_report(tmp_path):
    data = write_synthetic_dataset(tmp_path / "src", n_train=1, n_val=2, seed=2, shape=(96, 96))
    report = tmp_path / "prompting.md"
    command = [sys.executable, str(ROOT / "bench" / "prompting.py"), "--data", str(data), "--split", "val"]
    out = subprocess.run(
        [*command, "--limit", "2", "--report", str(report)], capture_output=True, text=True, check=True, timeout=600
    )
    line = json.loads(out.stdout.strip().splitlines()[-1])
    for name in ("edgsp", "coldstart"):
        ways = line["val"][name]
        assert {"all_at_once", "touching", "one_at_a_time"} <= set(ways)
        assert ways["all_at_once"]["merged"] == 0  # split between the points: no mask holds another's point
        assert ways["one_at_a_time"]["merged"] > 0  # alone, a mask grows over its touching neighbours
        assert ways["gain"]["low"] <= ways["gain"]["gain"] <= ways["gain"]["high"]
    assert "all at once, no gap" in report.read_text()
