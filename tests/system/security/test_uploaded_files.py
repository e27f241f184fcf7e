"""Uploaded files are never served as HTML and their names are never paths: every endpoint that answers stored bytes
sends a fixed safe Content-Type with `nosniff` (attachment for originals and exports), whatever the Accept header or
the upload's name; HTML/SVG posing as images is refused; hostile names land under generated paths inside MEDIA_ROOT."""

import inspect
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from labeling.apis.base import BinaryApiMixin
from labeling.choices import JobKind, JobStatus, Role
from labeling.models import Image
from labeling.services import images_upload
from labeling.services.datasets import export_path
from tests.factories import (
    ImageFactory,
    JobFactory,
    MaskFactory,
    MembershipFactory,
    ProjectFactory,
    TargetFactory,
    UserFactory,
    gradient,
    png_bytes,
)

# Content types an endpoint answering stored bytes may send: none of them is rendered as a page by a browser.
SAFE_TYPES = {"image/png", "image/tiff", "image/jpeg", "image/bmp", "application/octet-stream", "application/zip"}
HOSTILE_ACCEPTS = ["text/html", "image/svg+xml", "application/xhtml+xml", "*/*", "text/html;q=1, */*;q=0.1"]

# Every endpoint whose view answers bytes: the queries to try and whether it must be a download (attachment).
BYTE_ENDPOINTS = {
    "image-file": ([{}], True),
    "image-pixels": ([{}, {"format": "raw"}, {"format": "png"}], False),
    "target-mask": ([{"format": "png"}, {}], False),
    "target-crop": ([{}, {"size": 96}], False),
    "dataset-export-download": ([{}], True),
}


def _labeling_views() -> dict[str, type]:
    views: dict[str, type] = {}

    def walk(patterns: list, inside: bool) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, inside or getattr(pattern.urlconf_module, "__name__", "") == "labeling.urls")
            elif isinstance(pattern, URLPattern) and inside:
                views[pattern.name] = pattern.callback.view_class

    walk(get_resolver().url_patterns, False)
    return views


def test_every_byte_endpoint_is_listed():
    views = _labeling_views()
    answers_bytes = {
        name
        for name, view in views.items()
        if issubclass(view, BinaryApiMixin) or re.search(r"\b(HttpResponse|FileResponse)\(", inspect.getsource(view))
    }
    assert answers_bytes == set(BYTE_ENDPOINTS)
    assert all(issubclass(views[name], BinaryApiMixin) for name in answers_bytes), "bytes without BinaryApiMixin"


@pytest.fixture
def media(settings, tmp_path) -> Path:
    """MEDIA_ROOT four levels down, so a name climbing out of it would still land (visibly) inside tmp_path."""
    settings.MEDIA_ROOT = tmp_path / "a" / "b" / "c" / "media"
    return tmp_path


def files_outside_media(root: Path) -> list[Path]:
    media_root = Path(settings.MEDIA_ROOT).resolve()
    return [p for p in root.rglob("*") if p.is_file() and media_root not in p.resolve().parents]


@pytest.fixture
def polyglot_world(media, db):
    """An image: a valid PNG with HTML after it, uploaded under an .html name; its target's mask; an export."""
    project = ProjectFactory()
    manager = MembershipFactory(project=project, role=Role.MANAGER).user
    data = png_bytes(gradient(seed=41)) + b"<html><script>alert(document.cookie)</script></html>"
    image = ImageFactory(project=project, data=data, original_name="page.html")
    target = TargetFactory(image=image)
    MaskFactory(target=target)
    job = JobFactory(project=project, kind=JobKind.EXPORT, status=JobStatus.SUCCEEDED)
    path = Path(settings.MEDIA_ROOT) / export_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("index.html", "<script>alert(1)</script>")
    kwargs = {
        "image-file": {"image_id": image.pk},
        "image-pixels": {"image_id": image.pk},
        "target-mask": {"target_id": target.pk},
        "target-crop": {"target_id": target.pk},
        "dataset-export-download": {"job_id": job.pk},
    }
    return manager, kwargs


@pytest.mark.parametrize("name", sorted(BYTE_ENDPOINTS))
def test_stored_bytes_are_never_served_as_a_page(polyglot_world, client_for, name):
    manager, kwargs = polyglot_world
    queries, attachment = BYTE_ENDPOINTS[name]
    client = client_for(manager)
    for query in queries:
        for accept in HOSTILE_ACCEPTS:
            response = client.get(reverse(name, kwargs=kwargs[name]), query, HTTP_ACCEPT=accept)
            where = f"{name} {query} Accept: {accept}"
            # A strict Accept the chosen format cannot meet is refused (406, JSON); a browser's */* always gets bytes.
            assert response.status_code in ((200, 406) if "*/*" not in accept else (200,)), where
            content_type = response["Content-Type"].split(";")[0].strip()
            assert content_type in SAFE_TYPES | {"application/json"}, f"{where}: {content_type}"
            assert response["X-Content-Type-Options"] == "nosniff", where
            if content_type in SAFE_TYPES and attachment:
                disposition = response["Content-Disposition"]
                assert disposition.startswith("attachment;"), where
                assert not re.search(r"\.html?\b|\.svg\b", disposition), f"{where}: {disposition}"
    if name == "image-file":  # the name said .html; the content said PNG, and the content wins
        response = client.get(reverse(name, kwargs=kwargs[name]))
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"] == 'attachment; filename="page.png"'
    if name == "dataset-export-download":  # the zip holds an index.html; it still only downloads, named by ids
        response = client.get(reverse(name, kwargs=kwargs[name]))
        assert re.fullmatch(r'attachment; filename="project-\d+-\d+\.zip"', response["Content-Disposition"])


def test_admin_thumbnail_is_a_png(polyglot_world, client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    image = Image.objects.get()
    response = client.get(reverse("admin:labeling_image_thumbnail", args=[image.pk]), HTTP_ACCEPT="text/html")
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_url_serves_nothing(polyglot_world, client_for):
    manager, _ = polyglot_world
    stored = Image.objects.get().file.name
    assert (Path(settings.MEDIA_ROOT) / stored).is_file()
    response = client_for(manager).get(f"{settings.MEDIA_URL}{stored}")
    assert response.status_code == 404


# --- Uploads: content decides, names are data ------------------------------------------------------------------
NOT_IMAGES = {
    "html": b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>",
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>',
    "svg-no-prolog": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "gif-html": b"GIF89a<script>alert(1)</script>",
    "empty": b"",
}
HOSTILE_NAMES = {
    "dot-dot": (b"../../evil.png", "evil.png"),
    "backslashes": (b"..\\..\\evil.png", "evil.png"),
    "absolute": (b"/etc/cron.d/evil.png", "evil.png"),
    "nul": (b"evil\x00.png", "evil.png"),
    "windows-drive": (b"C:\\Windows\\evil.png", "evil.png"),
    "user-name": (b"mallory.png", "mallory.png"),
}
STORED = re.compile(r"^projects/\d+/images/[0-9a-f]{2}/[0-9a-f]{64}\.png$")


def raw_multipart(filename: bytes, data: bytes, content_type: bytes = b"image/png") -> tuple[bytes, str]:
    """A multipart body with the file name exactly as given (test clients clean names before sending them)."""
    boundary = b"----security-test-boundary"
    body = b"".join(
        [
            b"--" + boundary + b"\r\n",
            b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n',
            b"Content-Type: " + content_type + b"\r\n\r\n",
            data,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    )
    return body, f"multipart/form-data; boundary={boundary.decode()}"


@pytest.fixture
def uploader(media, db):
    project = ProjectFactory()
    mallory = MembershipFactory(project=project, role=Role.MANAGER, user=UserFactory(username="mallory")).user
    return project, mallory


def _post(client, project, body: bytes, content_type: str):
    return client.generic("POST", reverse("image-list", kwargs={"project_id": project.pk}), body, content_type)


@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
def test_html_or_svg_named_png_is_refused(uploader, client_for, kind):
    project, mallory = uploader
    response = _post(client_for(mallory), project, *raw_multipart(b"x.png", NOT_IMAGES[kind]))
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"message", "extra"}
    assert not Image.objects.exists()
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == []


def test_hostile_names_are_data_never_paths(uploader, client_for, media):
    project, mallory = uploader
    client = client_for(mallory)
    stored = 0
    for seed, (kind, (raw_name, clean)) in enumerate(sorted(HOSTILE_NAMES.items())):
        response = _post(client, project, *raw_multipart(raw_name, png_bytes(gradient(seed=300 + seed))))
        if response.status_code != 201:  # refusing a hostile name is fine; storing it somewhere else is not
            assert response.status_code == 400, f"{kind}: {response.status_code} {response.content[:200]}"
            continue
        stored += 1
        created = response.json()["created"][0]
        image = Image.objects.get(pk=created["id"])
        assert STORED.match(image.file.name), f"{kind}: stored at {image.file.name}"
        assert "mallory" not in image.file.name and "evil" not in image.file.name
        assert image.original_name == created["original_name"] == clean, kind
        download = client.get(reverse("image-file", kwargs={"image_id": image.pk}))
        assert download["Content-Disposition"] == f'attachment; filename="{clean}"', kind
    assert Image.objects.count() == stored >= len(HOSTILE_NAMES) - 1  # today Django's parser keeps every one
    assert files_outside_media(media) == []
    assert not any("evil" in p.name or "mallory" in p.name for p in media.rglob("*"))


def test_service_cleans_names_from_every_caller(uploader, media):
    """The service is also reached by the import command and dataset imports, which hand it raw names."""
    project, mallory = uploader
    files = [(raw.decode(), png_bytes(gradient(seed=400 + i))) for i, (raw, _) in enumerate(HOSTILE_NAMES.values())]
    created, errors = images_upload(project=project, files=files, actor=mallory)
    assert errors == []
    assert sorted(image.original_name for image in created) == sorted(clean for _, clean in HOSTILE_NAMES.values())
    assert all(STORED.match(image.file.name) for image in created)
    assert files_outside_media(media) == []
