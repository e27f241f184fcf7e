"""The Content-Security-Policy header: on pages, API answers and errors alike; scripts only from this origin (no
inline script, no eval); only the third-party docs pages may use inline styles."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in re.split(r";\s*", policy) if part.strip()}


@pytest.mark.parametrize(
    ("path", "inline_styles"),
    [
        ("/accounts/login/", False),
        ("/", False),  # a redirect to the sign-in page
        ("/api/v1/projects/", False),  # 401 JSON
        ("/api/v1/no-such-thing/", False),  # 404 JSON
        ("/admin/login/", False),
        ("/api/v1/docs/", True),
        ("/api/v1/redoc/", True),
    ],
)
def test_every_response_carries_the_policy(path, inline_styles):
    directives = _directives(Client().get(path))
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert ("'unsafe-inline'" in directives["style-src"]) is inline_styles


def test_swagger_start_script_is_a_file_not_inline():
    page = Client().get("/api/v1/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    script = Client().get("/api/v1/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
