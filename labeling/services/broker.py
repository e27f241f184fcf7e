"""What the task broker holds for each job: messages waiting in a queue, messages a worker took (unacked), and
what live workers are running. The orphaned-job sweep (services.job_sweep) reads it to tell a slow job from a lost
one. Redis and the embedded filesystem broker can be read; with another broker the view is unknown (None)."""

from __future__ import annotations

import base64
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from celery import current_app
from django.conf import settings

from labeling.job_kinds import QUEUES

logger = logging.getLogger(__name__)
INSPECT_TIMEOUT_S = 2.0


@dataclass
class BrokerView:
    """Per job id: messages waiting in a queue (count) and messages taken by some worker (their unacked entries)."""

    waiting: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    taken: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))  # (hash key, tag)


def _job_of(message: dict, job_tasks: set[str]) -> int | None:
    """The job id a Celery message is for (its first argument), or None for other tasks."""
    headers = message.get("headers") or {}
    if headers.get("task") not in job_tasks:
        return None
    try:
        body = message["body"]
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _ = json.loads(body)
        return int(kwargs["job_id"] if "job_id" in kwargs else args[0])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _redis_client():  # noqa: ANN202 - redis.Redis, imported lazily (only the Redis transport has one)
    import redis

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _folder_view(job_tasks: set[str]) -> BrokerView | None:
    """The embedded filesystem broker: one file per waiting message; a taken message is gone from the folder."""
    folder = (settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("data_folder_in")
    if not settings.CELERY_BROKER_URL.startswith("filesystem") or not folder:
        return None
    view = BrokerView()
    for path in Path(folder).glob("*.msg"):
        try:
            job_id = _job_of(json.loads(path.read_bytes()), job_tasks)
        except (OSError, ValueError):  # taken by a worker meanwhile, or half written
            continue
        if job_id is not None:
            view.waiting[job_id] += 1
    return view


def broker_view(job_tasks: set[str]) -> BrokerView | None:
    """Scan the queues and every worker group's unacked hash (webapp.celery names one per queue set)."""
    client = _redis_client()
    if client is None:
        return _folder_view(job_tasks)
    view = BrokerView()
    for queue in QUEUES:
        for key in client.scan_iter(match=f"{queue}*"):  # the queue and its priority lists ("batch\x06\x163")
            if client.type(key) != b"list":
                continue
            for raw in client.lrange(key, 0, -1):
                job_id = _job_of(json.loads(raw), job_tasks)
                if job_id is not None:
                    view.waiting[job_id] += 1
    for key in client.scan_iter(match="unacked*"):
        if client.type(key) != b"hash":
            continue
        for tag, raw in client.hgetall(key).items():
            job_id = _job_of(json.loads(raw)[0], job_tasks)
            if job_id is not None:
                view.taken[job_id].append((key.decode(), tag.decode()))
    return view


def broker_forget(entries: list[tuple[str, str]]) -> None:
    """Drop unacked entries whose worker is gone, so no worker restores them later (their work is re-sent)."""
    client = _redis_client()
    if client is None or not entries:
        return
    pipe = client.pipeline()
    for key, tag in entries:
        pipe.hdel(key, tag)
        pipe.zrem("unacked_index" + key[len("unacked") :], tag)
    pipe.execute()


def live_job_ids(job_tasks: set[str]) -> set[int] | None:
    """Job ids that a live worker is running or holds reserved (None: the workers could not be asked)."""
    try:
        inspect = current_app.control.inspect(timeout=INSPECT_TIMEOUT_S)
        replies = [inspect.active() or {}, inspect.reserved() or {}]
    except Exception as exc:  # a broker hiccup: better to skip one sweep than to re-send live work
        logger.warning("could not ask the workers what they run: %s", exc)
        return None
    live: set[int] = set()
    for reply in replies:
        for tasks in reply.values():
            for task in tasks:
                if task.get("name") in job_tasks and task.get("args"):
                    try:
                        live.add(int(task["args"][0]))
                    except (TypeError, ValueError):
                        continue
    return live
