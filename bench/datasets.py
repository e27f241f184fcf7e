"""Import and export throughput (images/s) and peak memory for N synthetic 512x512 16-bit frames with masks.

Usage: python bench/datasets.py [--sizes 1000 10000] [--database-url postgres://...] [--workers 2]
Each size: a SIRST-style zip is made (images/, masks/, splits/), imported with confirmed masks through the import
service (as the `batch` worker runs it), then the project is exported (SIRST tree, COCO, instance PNGs, manifest).
Each phase runs in its own process so its peak RSS is its own. Prints one JSON line, writes
bench/reports/datasets.md. Uses its own PostgreSQL database (default `bench_datasets`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIDE = 512


def _frame(i: int) -> tuple[bytes, bytes]:
    """A 16-bit IR-like frame (smooth sky, sensor noise, 1-3 small hot targets) and its 0/255 mask, as PNGs."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(i)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    sky = 6000 + 800 * (yy / SIDE) + 300 * np.sin(xx / 90 + i) + rng.normal(0, 25, (SIDE, SIDE))
    mask = np.zeros((SIDE, SIDE), bool)
    for _ in range(rng.integers(1, 4)):
        cy, cx, sigma = rng.uniform(8, SIDE - 8), rng.uniform(8, SIDE - 8), rng.uniform(0.8, 2.5)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        sky += 9000 * blob
        mask |= blob > 0.3
    pixels = np.clip(sky, 0, 65535).astype(np.uint16)
    image, mask_png = io.BytesIO(), io.BytesIO()
    PILImage.fromarray(pixels).save(image, format="PNG", compress_level=1)
    PILImage.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(mask_png, format="PNG")
    return image.getvalue(), mask_png.getvalue()


def phase_make(n: int, path: Path, workers: int) -> dict:
    started = time.perf_counter()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf, Pool(workers) as pool:
        split_lines = {"train": [], "val": []}
        for i, (image, mask) in enumerate(pool.imap(_frame, range(n), chunksize=16)):
            name = f"frame_{i:06d}"
            zf.writestr(f"images/{name}.png", image)
            zf.writestr(f"masks/{name}.png", mask)
            split_lines["val" if i % 5 == 4 else "train"].append(name)
        for split, lines in split_lines.items():
            zf.writestr(f"splits/{split}.txt", "\n".join(lines) + "\n")
    return {"seconds": round(time.perf_counter() - started, 1), "zip_bytes": path.stat().st_size}


def _django(database_url: str, media: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_MEDIA_ROOT"] = str(media)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.test")
    import django

    django.setup()


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_import(n: int, path: Path, database_url: str, media: Path) -> dict:
    _django(database_url, media)
    from django.core.files import File

    from bench import app
    from labeling.services.datasets import dataset_import, dataset_import_request

    user = app.bench_user()
    project = app.owned_project(f"bench-datasets-{n}-{int(time.time())}", user)
    with open(path, "rb") as handle:
        job = dataset_import_request(project=project, upload=File(handle, name="bench.zip"), actor=user, confirm=True)
    baseline = _rss_mb()
    started = time.perf_counter()
    dataset_import(job_id=job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded" or job.result["counts"]["images"] != n:
        raise SystemExit(f"import failed: {job.status} {job.message} {job.errors[:3]}")
    return {
        "project": project.pk,
        "seconds": round(seconds, 1),
        "images_per_s": round(n / seconds, 1),
        "masks": job.result["counts"]["masks"],
        "rss_before_mb": round(baseline, 1),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def phase_export(project_id: int, n: int, database_url: str, media: Path) -> dict:
    _django(database_url, media)
    from bench import app
    from labeling.services.datasets import dataset_export, dataset_export_request, export_file

    project = app.project_by_id(project_id)
    job = dataset_export_request(project=project, actor=project.created_by, enqueue=False)
    baseline = _rss_mb()
    started = time.perf_counter()
    dataset_export(job_id=job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"export failed: {job.status} {job.message}")
    size = export_file(job, actor=project.created_by).stat().st_size
    project.delete()
    return {
        "seconds": round(seconds, 1),
        "images_per_s": round(n / seconds, 1),
        "zip_mb": round(size / 1024**2, 1),
        "rss_before_mb": round(baseline, 1),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "webapp.settings.test"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args[:2]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000], help="add 10000 for the large case")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_datasets"),
    )
    parser.add_argument("--workers", type=int, default=2, help="processes making the synthetic frames")
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "datasets.md"))
    parser.add_argument("--phase", choices=["make", "import", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--project", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        folder = Path(args.dir)
        if args.phase == "make":
            result = phase_make(args.n, folder / "data.zip", args.workers)
        elif args.phase == "import":
            result = phase_import(args.n, folder / "data.zip", args.database_url, folder / "media")
        else:
            result = phase_export(args.project, args.n, args.database_url, folder / "media")
        print(json.dumps(result))
        return

    _ensure_database(args.database_url)
    results = {}
    for n in sorted(args.sizes):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-datasets-{n}-"))
        try:
            common = ["--n", str(n), "--dir", str(folder), "--database-url", args.database_url]
            made = _child(["--phase", "make", *common, "--workers", str(args.workers)])
            imported = _child(["--phase", "import", *common])
            exported = _child(["--phase", "export", *common, "--project", str(imported.pop("project"))])
            results[str(n)] = {"make": made, "import": imported, "export": exported}
            print(json.dumps({n: results[str(n)]}), file=sys.stderr)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    line = {
        "bench": "datasets",
        "frame": f"{SIDE}x{SIDE} uint16 PNG + 0/255 mask",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, PostgreSQL",
        "results": results,
    }
    print(json.dumps(line))
    _write_report(Path(args.report), line)


def _write_report(path: Path, line: dict) -> None:
    rows = [
        "| frames | zip MB | import s | import img/s | import peak RSS MB (before) "
        "| export s | export img/s | export zip MB | export peak RSS MB (before) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in line["results"].items():
        i, e = r["import"], r["export"]
        rows.append(
            f"| {n} | {r['make']['zip_bytes'] / 1024**2:.0f} | {i['seconds']} | {i['images_per_s']} "
            f"| {i['peak_rss_mb']} ({i['rss_before_mb']}) | {e['seconds']} | {e['images_per_s']} | {e['zip_mb']} "
            f"| {e['peak_rss_mb']} ({e['rss_before_mb']}) |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = "<!-- notes below are kept when the bench rewrites the table -->"
    previous = path.read_text() if path.exists() else ""
    notes = previous.split(marker, 1)[1] if marker in previous else "\n"
    path.write_text(
        "# Dataset import and export throughput\n\n"
        f"Command: `python bench/datasets.py --sizes {' '.join(line['results'])}` on {line['machine']}. "
        f"Frames: {line['frame']} (1 to 3 targets each), in a SIRST-style zip (images/, masks/, splits/). "
        "Import: the import service as the `batch` worker runs it, masks confirmed (decode and validate each "
        "original, SHA-256, store, one target and one RLE mask per 8-connected component). Export: the whole "
        "project as SIRST tree + COCO + 16-bit instance PNGs + manifest, written entry by entry. Peak RSS is the "
        "phase's own process (Django and the ORM included); in brackets, its RSS just before the phase started."
        "\n\n" + "\n".join(rows) + f"\n\nRaw: `{json.dumps(line)}`\n\n" + marker + notes
    )


if __name__ == "__main__":
    main()
