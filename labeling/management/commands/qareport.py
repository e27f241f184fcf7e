"""manage.py qareport --project P [--format table|csv|json] [--out FILE]: the annotators' quality, for scripts and
spreadsheets (the dashboard's "Annotator quality" card, from selectors.qa_summary)."""

import csv
import io
import json
from pathlib import Path

from django.core.management.base import CommandError, CommandParser
from django.http import Http404

from labeling.management.commands.importdataset import project_and_actor
from labeling.management.operator import OperatorCommand
from labeling.selectors import qa_summary

COLUMNS = (
    "username", "frames", "iou", "pd", "fa", "fat", "false_targets", "median_seconds",
    "gold_frames", "gold_iou", "gold_pd", "agreement_frames", "agreement_iou", "agreement_pd",
)  # fmt: skip


def rows(summary: dict) -> list[dict]:
    """One flat row per annotator (gold and agreement figures blank where there are none)."""
    out = []
    for a in summary["annotators"]:
        row = {k: a.get(k) for k in COLUMNS[:8]}
        for part in ("gold", "agreement"):
            figures = a.get(part) or {}
            row |= {f"{part}_{k}": figures.get(k) for k in ("frames", "iou", "pd")}
        out.append(row)
    return out


class Command(OperatorCommand):
    help = (
        "Each annotator's submissions scored against the reviewers' confirmed masks (IoU, Pd, Fa, false targets, "
        "median time), on gold frames, and against the other annotator on frames labelled twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, type=int, help="project id")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
        parser.add_argument("--out", default=None, help="write here instead of standard output")
        parser.add_argument("--user", default=None, help="read as this member (default: the project's creator)")

    def handle(self, *args: object, **options: object) -> None:
        project, actor = project_and_actor(options)
        try:
            summary = qa_summary(user=actor, project=project)
        except Http404 as exc:
            who = getattr(actor, "username", actor)
            raise CommandError(f"{who!r} is not a member of project {project.pk}") from exc
        table = rows(summary)
        if options["format"] == "json":
            text = json.dumps({"annotators": table, "double": summary["double"], "waiting": summary["waiting"]})
        elif options["format"] == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(table)
            text = buffer.getvalue().rstrip("\n")
        else:
            text = _table(table, summary)
        if options["out"]:
            Path(str(options["out"])).write_text(text + "\n")
            self.stdout.write(self.style.SUCCESS(f"{len(table)} annotators -> {options['out']}"))
        else:
            self.stdout.write(text)


def _table(table: list[dict], summary: dict) -> str:
    def cell(value: object) -> str:
        return "–" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)

    widths = {c: max(len(c), *(len(cell(r[c])) for r in table)) if table else len(c) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(cell(r[c]).ljust(widths[c]) for c in COLUMNS) for r in table]
    double = summary["double"]
    lines.append(
        f"{summary['waiting']} submissions wait for review; labelled twice: {double['pairs']} frames, "
        f"inter-annotator IoU {cell(double['iou'])}, {double['second_pass_waiting']} waiting for a second pass"
    )
    return "\n".join(lines)
