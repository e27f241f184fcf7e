"""Every operation of the OpenAPI schema, fuzzed by schemathesis in process (WSGI): no 500, responses match the schema.

The schema is the one the app serves (/api/v1/schema/), loaded through the WSGI app, so a view the schema
misdescribes fails here. Requests run as the owner of a project with an image, targets and masks; each example
runs in a savepoint that is rolled back, so every example sees the same world (a DELETE does not starve the rest).
"""

import math
import os

import hypothesis
import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase
from rest_framework.response import Response
from schemathesis.core.failures import Failure, FailureGroup

from labeling.apis.auth import MeApi
from webapp.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
# Nothing is excluded: every path and method of the schema is fuzzed (the URL conf has no logout or other operation
# that would end the session; login is `auth/token/`, which a wrong password answers with 400).

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance]
# FUZZ_MAX_EXAMPLES raises the bound and FUZZ_RANDOM=1 draws new examples (a long local hunt); CI keeps the small,
# derandomized default (the whole file < 60 s).
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
FIXED = os.environ.get("FUZZ_RANDOM") != "1"
MAX_WAIT_S = 0.01  # no worker runs here: a valid `wait` would only sleep (its parsing is tested in test_parsers)


def _short_wait(query: dict | None) -> None:
    """Keep a valid `wait` query value (0..5 s) but make it tiny; invalid ones go through untouched."""
    if not query or "wait" not in query:
        return
    try:
        value = float(query["wait"])
    except (TypeError, ValueError):
        return
    if math.isfinite(value) and 0 <= value <= 5:
        query["wait"] = min(value, MAX_WAIT_S)


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=FIXED,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_operation(case, world, in_process_requests):
    ids = world.path_ids()
    if case.path_parameters:
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    _short_wait(case.query)
    with transaction.atomic():
        response = case.call(headers=world.headers)
        transaction.set_rollback(True)
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize(
    "answer,check",
    [
        (lambda: 1 / 0, schemathesis.checks.not_a_server_error),  # an unhandled exception -> 500
        (lambda: Response({"id": "not a number"}), schemathesis.checks.response_schema_conformance),
    ],
)
def test_the_checks_can_fail(world, in_process_requests, monkeypatch, answer, check):
    """The harness is not vacuous: a view that crashes, or answers outside its schema, fails these checks."""
    monkeypatch.setattr(MeApi, "get", lambda self, request: answer())
    case = schema["/api/v1/me/"]["GET"].Case()
    with transaction.atomic():
        response = case.call(headers=world.headers)
        transaction.set_rollback(True)
    with pytest.raises((Failure, FailureGroup)):
        case.validate_response(response, checks=[check])
