"""Downstream check: import SIRST, export it, train the EDGSP model on the export with ml.fit, score it on val.

Usage: python bench/export_train.py [--data ../shared/data/sirst] [--budget 120] [--database-url postgres://...]
The export (SIRST tree) is unzipped and handed to `ml.train.fit` as is: no conversion step. The bench also
checks that the exported train split holds exactly the source's pixels and masks (ml.data.data_hash), then scores
the trained checkpoint on the exported val split (centroid points) next to the shipped weights. Prints one JSON
line and writes its section of bench/reports/datasets.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sirst"


def _setup(database_url: str, media: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from datasets import _ensure_database  # the same throwaway database helper as bench/datasets.py

    _ensure_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_MEDIA_ROOT"] = str(media)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.test")
    import django

    django.setup()


def _import_and_export(data: Path) -> tuple[Path, dict]:
    from bench import app
    from labeling.services.datasets import (
        dataset_export,
        dataset_export_request,
        dataset_import,
        dataset_import_folder_request,
        export_file,
    )

    user = app.bench_user()
    project = app.owned_project(f"bench-export-train-{int(time.time())}", user)
    started = time.perf_counter()
    imported = dataset_import_folder_request(project=project, folder=data, actor=user, confirm=True, enqueue=False)
    dataset_import(job_id=imported.pk)
    imported.refresh_from_db()
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    exported = dataset_export_request(
        project=project, actor=user, confirmed_only=True, formats=["sirst"], enqueue=False
    )
    dataset_export(job_id=exported.pk)
    exported.refresh_from_db()
    export_s = time.perf_counter() - started
    if exported.status != "succeeded":
        raise SystemExit(f"export failed: {exported.message}")
    info = {
        "import": {"status": imported.status, "counts": imported.result.get("counts"), "seconds": round(import_s, 1)},
        "export": {"counts": exported.result["counts"], "seconds": round(export_s, 1)},
    }
    return export_file(exported, actor=user), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="a SIRST-style folder (images/, masks/, splits/)")
    parser.add_argument("--budget", type=float, default=120.0, help="training time budget in seconds")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_datasets"),
    )
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "datasets.md"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-export-train-"))
    _setup(args.database_url, work / "media")
    archive, info = _import_and_export(Path(args.data))
    folder = work / "export"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)  # our own export, just written: names are safe

    from ml import ColdStartPredictor, Predictor, TrainConfig, fit
    from ml.data import data_hash, load_samples
    from ml.evaluation import evaluate_predictor

    source_train = load_samples(args.data, "train")
    export_train = load_samples(folder, "train")
    same = data_hash(sorted(source_train, key=lambda s: s.id)) == data_hash(sorted(export_train, key=lambda s: s.id))
    val = load_samples(folder, "val")
    started = time.perf_counter()
    config = TrainConfig(device=args.device, threads=max(1, (os.cpu_count() or 1)))
    result = fit(folder, config, time_budget_s=args.budget, out_path=work / "edgsp.pt", show_progress=False)
    train_s = time.perf_counter() - started

    def score(predictor: Predictor) -> dict:
        out = evaluate_predictor(predictor, val, "centroid")
        return {k: round(out[k], 2) for k in ("iou", "pd", "fa", "fat")}

    line = {
        "bench": "export_train",
        "data": str(args.data),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        **info,
        "train_images": len(export_train),
        "val_images": len(val),
        "export_train_equals_source": same,
        "train": {"budget_s": args.budget, "seconds": round(train_s, 1), "steps": result.steps},
        "val_trained_on_export": score(Predictor.load(result.checkpoint_path, device=args.device)),
        "val_cold_start": score(ColdStartPredictor()),
        "val_shipped_weights": score(Predictor.load(device=args.device)) if _shipped() else None,
    }
    print(json.dumps(line))
    section = (
        f"{HEADING}\n\n"
        f"Command: `python bench/export_train.py --budget {args.budget:g}` on {line['machine']}.\n\n"
        f"1. Import `{Path(args.data).name}` ({info['import']['counts']}) with confirmed masks, "
        f"{info['import']['seconds']} s.\n"
        f"2. Export the confirmed images as the SIRST tree, {info['export']['seconds']} s; unzip.\n"
        f"3. The exported train split equals the source's pixels and masks (ml.data.data_hash): **{same}**.\n"
        f"4. `ml.train.fit(export_dir, time_budget_s={args.budget:g})`: {result.steps} steps in {train_s:.0f} s.\n"
        f"5. Score on the exported val split ({len(val)} frames, centroid points): "
        f"trained on the export {line['val_trained_on_export']}; training-free cold start {line['val_cold_start']}; "
        f"shipped weights {line['val_shipped_weights']}.\n\n"
        "IoU, Pd and Fat in %, Fa in 1e-6. A short budget trains far less than the shipped weights; the point is "
        "that the export feeds `ml.fit` directly and the model learns from it.\n\n"
        f"Raw: `{json.dumps(line)}`\n"
    )
    _report_section(Path(args.report), section)


HEADING = "## Export -> train -> score"


def _shipped() -> bool:
    from ml.inference import DEFAULT_WEIGHTS

    return Path(DEFAULT_WEIGHTS).is_file()


def _report_section(path: Path, section: str) -> None:
    """Replace (or append) this bench's section of the report, leaving the rest as it is."""
    text = path.read_text() if path.exists() else "# Dataset import and export\n"
    if HEADING in text:
        before, after = text.split(HEADING, 1)
        rest = after.split("\n## ", 1)
        text = before + section + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
