"""Where SIRST train's masks end, as a share of each target's peak above its local background.

The implanted training targets (`ml.synthetic.implant_into_frame`) are labelled where their blob exceeds a
level of its peak; this measures the level real labels use, on the train split only (val stays for reports):

    python bench/mask_levels.py [--data ../shared/data/sirst] [--split train]

For every 8-connected target: background = median of a ring 2-4 px outside the mask, peak = the mask's
maximum; the inner boundary (mask pixels with a neighbour outside) and the pixels just outside are expressed
as (I - background) / (peak - background). Targets less than 3 grey levels above background are skipped.
Prints one JSON line and writes bench/reports/mask_levels.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.data import load_samples  # noqa: E402
from ml.inputs import to_grey  # noqa: E402

REPORT = ROOT / "bench" / "reports" / "mask_levels.md"


def target_levels(image: np.ndarray, mask: np.ndarray) -> list[tuple[float, float, int]]:
    """(inner boundary level, outer ring level, area) per target of one frame, medians over its pixels."""
    img = to_grey(image)
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    k3, k9 = np.ones((3, 3), np.uint8), np.ones((9, 9), np.uint8)
    out = []
    for k in range(1, n):
        m = (labels == k).astype(np.uint8)
        near = cv2.dilate(m, k3) > 0
        ring = (cv2.dilate(m, k9) > 0) & ~near
        bg, peak = float(np.median(img[ring])), float(img[m > 0].max())
        if peak - bg < 3:
            continue
        inner = (m > 0) & ~(cv2.erode(m, k3) > 0)
        outer = near & ~(m > 0)
        out.append((float(np.median(img[inner]) - bg) / (peak - bg), float(np.median(img[outer]) - bg) / (peak - bg),
                    int(m.sum())))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sirst"))
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    rows = [r for s in load_samples(args.data, args.split) for r in target_levels(s.image, s.mask)]
    if not rows:
        raise SystemExit(f"no targets found in {args.data} ({args.split})")
    inner, outer, area = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    q = (25, 50, 75)
    res = {
        "split": args.split,
        "n_targets": len(rows),
        "inner_level_q25_50_75": np.percentile(inner, q).round(2).tolist(),
        "outer_level_q25_50_75": np.percentile(outer, q).round(2).tolist(),
        "area_px_q10_25_50_75_90": np.percentile(area, (10, 25, 50, 75, 90)).round(1).tolist(),
    }
    print(json.dumps(res))
    REPORT.write_text(
        "# Where SIRST masks end (`python bench/mask_levels.py`)\n\n"
        f"Split `{args.split}`, {len(rows)} targets at least 3 grey levels above their local background. Levels are\n"
        "(I - background) / (peak - background), medians per target, then quartiles over targets.\n\n"
        "| pixels | q25 | median | q75 |\n|---|---|---|---|\n"
        f"| inner boundary (in the mask) | {' | '.join(f'{v:.2f}' for v in res['inner_level_q25_50_75'])} |\n"
        f"| just outside the mask | {' | '.join(f'{v:.2f}' for v in res['outer_level_q25_50_75'])} |\n\n"
        f"Target area (px), q10/q25/median/q75/q90: {' / '.join(f'{v:g}' for v in res['area_px_q10_25_50_75_90'])}.\n"
        "The implanted targets' label level (0.3 of the peak) sits between the two medians.\n"
    )


if __name__ == "__main__":
    main()
