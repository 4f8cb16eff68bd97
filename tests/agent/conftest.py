from __future__ import annotations

import pytest

from tests.support.releases import Release, build_all


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Release]:
    """Base, healthy and broken release artifacts of this checkout (built once)."""
    return build_all(tmp_path_factory.mktemp("releases"))
