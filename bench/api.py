"""Latency of listing a project's images at 1k and 100k images on PostgreSQL (p50/p95, query counts).

Usage: python bench/api.py [--sizes 1000 100000] [--requests 200] [--database-url postgres://...]
Prints one JSON line and writes bench/reports/api.md. Uses its own database (default `bench_api`),
created and migrated on first use; the full Django + DRF stack answers through django.test.Client.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _time_requests(client, url: str, n: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries = [], 0
    for i in range(n):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:200]!r}")
        if i == 0:
            queries = len(ctx.captured_queries)
            body = response.json()
    count = len(body.get("results", body))
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(_percentile(timings, 95), 2),
        "queries": queries,
        "rows": count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_api")
    )
    parser.add_argument("--report", default=str(ROOT / "bench" / "reports" / "api.md"))
    args = parser.parse_args()

    _ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    from bench import app

    user = app.bench_user()
    client = Client()
    client.force_login(user)
    results = {}
    for size in sorted(args.sizes):
        project = app.owned_project(f"bench-{size}", user, reuse=True)
        started = time.perf_counter()
        app.image_rows_fill(project, user, size)
        fill_s = time.perf_counter() - started
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE labeling_image")
        base = f"/api/v1/projects/{project.pk}/images/"
        first = client.get(base).json()
        deep = first.get("next") or base
        for _ in range(20):  # walk 20 pages in, to show keyset pages cost the same deep in the list
            nxt = client.get(deep).json().get("next")
            if not nxt:
                break
            deep = nxt
        results[str(size)] = {
            "fill_s": round(fill_s, 1),
            "first_page": _time_requests(client, base, args.requests),
            "status_filter": _time_requests(client, base + "?status=submitted", args.requests),
            "split_filter": _time_requests(client, base + "?split=val&status=confirmed", args.requests),
            "page_21": _time_requests(client, deep, args.requests),
        }
    line = {"bench": "api_image_list", "database": "postgresql", "requests": args.requests, "results": results}
    print(json.dumps(line))
    _write_report(Path(args.report), line)


def _write_report(path: Path, line: dict) -> None:
    rows = ["| images | query | p50 ms | p95 ms | SQL queries | rows |", "|---|---|---|---|---|---|"]
    for size, per in line["results"].items():
        for name, cell in per.items():
            if isinstance(cell, dict):
                rows.append(
                    f"| {size} | {name} | {cell['p50_ms']} | {cell['p95_ms']} | {cell['queries']} | {cell['rows']} |"
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Image list latency (PostgreSQL)\n\n"
        "Command: `python bench/api.py` (Django test client through the full middleware and DRF stack, "
        f"{line['requests']} requests per cell, one user, session auth).\n\n" + "\n".join(rows) + "\n\n"
        "Goal: p95 under 50 ms at 100k images with a constant query count.\n\n"
        f"Raw: `{json.dumps(line)}`\n"
    )


if __name__ == "__main__":
    main()
