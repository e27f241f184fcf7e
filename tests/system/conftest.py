"""Cross-cutting suites (security, safety, reliability, fuzz, browser): whole-system checks that start servers,
browsers or fault injection. Every test below this folder is marked `system`, so `./scripts/test -m "not system"`
is the quick loop over the unit and service tests that mirror the code."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.system)
