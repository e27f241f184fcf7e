"""Dataset layouts: find images, masks, point labels, COCO files and split lists in a source, per image."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from labeling.choices import Split
from labeling.services.datasets.archive import Source
from labeling.services.datasets.formats import LabelError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
# Point-PNG folders, best first: ours (points/centroid, points/coarse), then EDGSP/LESPS names.
POINT_DIRS = ("points/centroid", "centroid", "points/coarse", "masks_coarse", "coarse", "points")
MASK_DIRS = ("masks", "mask", "masks_full")
INSTANCE_DIRS = ("instances",)
LABEL_DIRS = set(POINT_DIRS) | set(MASK_DIRS) | set(INSTANCE_DIRS)
SIRST_MASK_SUFFIX = "_pixels0"  # YimianDai/sirst names its masks <id>_pixels0.png
OWN_FILES = {"manifest.json", "sha256sums"}
SPLIT_WORDS = (("train", Split.TRAIN), ("val", Split.VAL), ("test", Split.TEST))


@dataclass
class ImagePlan:
    key: str  # the image's path below images/ without its suffix: the dataset id
    path: str
    split: str | None = None
    mask: str | None = None
    instances: str | None = None
    point_png: str | None = None
    points: list[dict[str, Any]] | None = None  # from JSON: [{"x", "y", ...}]
    points_file: str | None = None
    coco: list[dict[str, Any]] | None = None  # this image's COCO annotations
    coco_file: str | None = None
    coco_size: tuple[int, int] | None = None  # (height, width) the COCO file declares
    coco_complete: bool | None = None  # our COCO export's "complete" (every target confirmed); None: not said
    sequence: tuple[str, int] | None = None  # (name, frame index) from a COCO image entry, else None

    @property
    def labelled(self) -> bool:
        """A mask source exists: an image without targets there is a confirmed empty frame, not an unlabelled one
        (unless our own COCO export says the frame was not complete)."""
        return bool(self.mask or self.instances or (self.coco is not None and self.coco_complete is not False))


@dataclass
class Layout:
    plans: list[ImagePlan]
    formats: list[str]
    skipped: list[dict[str, Any]]


def _stem(path: str) -> str:
    dot = path.rfind(".")
    return path[:dot] if dot > path.rfind("/") else path


def _under(path: str, folders: tuple[str, ...] | set[str]) -> tuple[str, str] | None:
    """(folder, rest) when `path` lies in one of `folders` (case-insensitive, at any depth of a common root)."""
    lower = path.lower()
    for folder in sorted(folders, key=len, reverse=True):
        if lower.startswith(folder + "/"):
            return folder, path[len(folder) + 1 :]
    return None


def _strip_common_root(paths: list[str]) -> str:
    """`sirst/images/a.png`, `sirst/masks/a.png` -> prefix `sirst/` (zips often hold one top folder)."""
    firsts = {p.split("/", 1)[0] for p in paths}
    if len(firsts) == 1 and all("/" in p for p in paths):
        top = firsts.pop()
        if top.lower() not in {"images", *LABEL_DIRS, "splits", "annotations"}:
            return top + "/"
    return ""


def _split_of(name: str) -> str | None:
    """train/val/test named by a file or folder name; None when it names none, or several (`trainval.txt`)."""
    lower = name.lower().rsplit("/", 1)[-1]
    found = {split for word, split in SPLIT_WORDS if word in lower}
    return found.pop() if len(found) == 1 else None


def json_load(data: bytes, path: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise LabelError(f"malformed JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise LabelError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:  # `[` * 100000: json.loads gives up with RecursionError, not a ValueError
        raise LabelError("malformed JSON: nested too deeply") from exc


def layout_find(source: Source) -> Layout:
    """Classify every file of the source; JSON files are parsed here (COCO, per-image points, a points map)."""
    paths = sorted(source.entries)
    prefix = _strip_common_root(paths)
    rel = {p: p[len(prefix) :] for p in paths}
    skipped: list[dict[str, Any]] = []
    formats: set[str] = set()
    has_images_dir = any(r.lower().startswith("images/") for r in rel.values())
    plans: dict[str, ImagePlan] = {}
    masks, instances, point_pngs, point_json, splits = {}, {}, {}, {}, {}
    jsons: list[str] = []

    def skip(path: str, message: str) -> None:
        skipped.append({"item": path, "message": f"{path}: {message}"})

    for path in paths:
        r = rel[path]
        lower = r.lower()
        suffix = lower[lower.rfind(".") :] if "." in lower.rsplit("/", 1)[-1] else ""
        labelled = _under(r, LABEL_DIRS)
        if lower in OWN_FILES:
            formats.add("irlabel")  # our own export's manifest and checksums: read by people, not imported
        elif suffix in IMAGE_SUFFIXES and labelled is None:
            if has_images_dir and not lower.startswith("images/"):
                skip(path, "an image outside images/: not imported")
                continue
            key = _stem(r[len("images/") :] if lower.startswith("images/") else r)
            if key in plans:
                skip(path, f"duplicate name: {plans[key].path} has the same id {key!r}; the first is used")
                continue
            split = None if has_images_dir else _split_of(r.split("/", 1)[0]) if "/" in r else None
            plans[key] = ImagePlan(key=key, path=path, split=split)
        elif suffix == ".png" and labelled is not None:
            folder, rest = labelled
            table = masks if folder in MASK_DIRS else instances if folder in INSTANCE_DIRS else point_pngs
            key = _stem(rest)
            key = key[: -len(SIRST_MASK_SUFFIX)] if key.endswith(SIRST_MASK_SUFFIX) else key  # SIRST's own name
            table.setdefault(key, {})[folder] = path
        elif suffix == ".json":
            jsons.append(path)
        elif suffix == ".txt" and _split_of(r) is not None:
            try:
                text = source.read(path).decode("utf-8-sig")
            except (ValueError, UnicodeDecodeError) as exc:
                skip(path, f"split list not readable ({exc})")
                continue
            for line in text.splitlines():
                if line.strip():
                    splits.setdefault(_stem(line.strip()), _split_of(r))
            formats.add("splits")
        else:
            skip(path, "not an image or a label file of a known layout: skipped")
    coco_found = False
    global_points: dict[str, list] = {}
    for path in jsons:
        try:
            data = json_load(source.read(path), path)
        except ValueError as exc:
            skip(path, str(exc))
            continue
        if isinstance(data, dict) and "images" in data and "annotations" in data:
            if coco_found:
                skip(path, "a second COCO file: only the first is used")
                continue
            coco_found = True
            formats.add("coco")
            skipped.extend(_coco_attach(data, path, plans))
        elif isinstance(data, dict) and isinstance(data.get("points"), list):
            under = _under(rel[path], {"points"})
            point_json[_stem(under[1] if under else rel[path].rsplit("/", 1)[-1])] = (path, data["points"])
        elif isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            for name, points in data.items():
                global_points[_stem(name.replace("\\", "/").removeprefix("images/"))] = (path, points)
        else:
            skip(path, "JSON that is neither COCO, per-image points nor a {image: points} map: skipped")
    for key, plan in plans.items():
        plan.split = splits.get(key, splits.get(key.rsplit("/", 1)[-1], plan.split))
        if key in masks:
            plan.mask = next(iter(masks[key].values()))
            formats.add("masks")
        if key in instances:
            plan.instances = instances[key]["instances"]
            formats.add("instances")
        if key in point_pngs:
            plan.point_png = next(point_pngs[key][d] for d in POINT_DIRS if d in point_pngs[key])
            formats.add("point_png")
        found = point_json.get(key) or global_points.get(key) or global_points.get(key.rsplit("/", 1)[-1])
        if found:
            plan.points_file, plan.points = found
            formats.add("points_json")
    known = set(plans)
    for table, what in ((masks, "mask"), (instances, "instance mask"), (point_pngs, "point PNG")):
        for key, files in table.items():
            if key not in known:
                for path in files.values():
                    skip(path, f"{what} without an image of the same name: skipped")
    for key, (path, _) in {**global_points, **point_json}.items():
        if key not in known and key.rsplit("/", 1)[-1] not in known:
            skip(path, f"points for {key!r}, which is not an image of the source: skipped")
    if plans:
        formats.add("images")
    return Layout(plans=[plans[k] for k in sorted(plans)], formats=sorted(formats), skipped=skipped)


def _coco_attach(data: dict, path: str, plans: dict[str, ImagePlan]) -> list[dict[str, Any]]:
    """Hang each COCO annotation on its image's plan; report annotations whose image is unknown or absent."""
    report: list[dict[str, Any]] = []
    images = data.get("images")
    annotations = data.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        return [{"item": path, "message": f"{path}: COCO 'images' and 'annotations' must be lists: skipped"}]
    by_id: dict[Any, ImagePlan | None] = {}
    unmasked: dict[Any, list[Any]] = {}
    by_name = {p.key: p for p in plans.values()}
    by_base = {p.key.rsplit("/", 1)[-1]: p for p in plans.values()}
    for entry in images:
        if not isinstance(entry, dict) or not _is_id(entry.get("id")) or not isinstance(entry.get("file_name"), str):
            report.append(
                {"item": path, "message": f"{path}: a COCO image entry without an id (number or text) or file_name"}
            )
            continue
        key = _stem(entry["file_name"].replace("\\", "/").removeprefix("images/"))
        plan = by_name.get(key) or by_base.get(key.rsplit("/", 1)[-1])
        by_id[entry["id"]] = plan
        if plan is None:
            report.append(
                {
                    "item": entry["file_name"],
                    "message": f"{path}: COCO image {entry['file_name']!r} (id {entry['id']}) is not in the source; "
                    "its annotations are skipped",
                }
            )
            continue
        plan.coco, plan.coco_file = plan.coco or [], path
        if isinstance(entry.get("height"), int) and isinstance(entry.get("width"), int):
            plan.coco_size = (entry["height"], entry["width"])
        if entry.get("split") in Split.values and plan.split is None:
            plan.split = entry["split"]
        if isinstance(entry.get("complete"), bool):
            plan.coco_complete = entry["complete"]
        if isinstance(entry.get("unmasked_points"), list):
            unmasked[entry["id"]] = entry["unmasked_points"]
        plan.sequence = _sequence_of(entry)
    for index, ann in enumerate(annotations):
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if not _is_id(image_id) or image_id not in by_id:
            shown = repr(image_id)[:40]
            report.append(
                {"item": path, "message": f"{path}: annotation {index} refers to image id {shown}, not listed"}
            )
        elif by_id[image_id] is not None:
            by_id[image_id].coco.append(ann)
    for image_id, points in unmasked.items():
        if by_id.get(image_id) is not None:
            _unmasked_insert(by_id[image_id].coco, points)
    return report


def _sequence_of(entry: dict[str, Any]) -> tuple[str, int] | None:
    """A COCO image's place in a sequence: our export's `sequence` + `frame_index`, or COCO-VID's `video_id` +
    `frame_id`; None when absent or malformed (the frame then arrives alone)."""
    for name_key, index_key in (("sequence", "frame_index"), ("video_id", "frame_id")):
        name, index = entry.get(name_key), entry.get(index_key)
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        ok_index = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 2**31
        if isinstance(name, str) and 0 < len(name.strip()) <= 255 and ok_index:
            return " ".join(name.split()), index
    return None


def _unmasked_insert(annotations: list[Any], points: list[Any]) -> None:
    """Our export lists targets without a mask on their image (`unmasked_points`), never as empty masks: they come
    back as point-only annotations at their place among the targets. Values are checked later, like any point."""
    placed = [p for p in points if isinstance(p, dict)]
    placed.sort(key=lambda p: p["index"] if _is_index(p.get("index")) else len(annotations) + len(points))
    for point in placed:
        index = point["index"] if _is_index(point.get("index")) else len(annotations)
        xy = [point.get("x"), point.get("y")]
        annotations.insert(min(index, len(annotations)), {"keypoints": [*xy, 2], "attributes": {"point": xy}})


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_id(value: Any) -> bool:
    """A COCO id is a number or a string; anything else (a list, an object) cannot key a table."""
    return isinstance(value, int | float | str) and not isinstance(value, bool)
