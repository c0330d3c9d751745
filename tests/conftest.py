"""Fixtures every suite shares."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from imagefleet import scan


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tool's caches (file digests, checked settings and manifests, locks) in a directory of
    the session's own: its thousand test checkouts would otherwise fill the user's, and a test
    would find records an earlier session left. trivy's database stays where it is."""
    patch = pytest.MonkeyPatch()
    patch.setenv("TRIVY_CACHE_DIR", os.environ.get("TRIVY_CACHE_DIR") or str(scan.cache_dir()))
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _package_logger() -> Iterator[None]:
    """Undo what a task run in-process does to the package's logger (its own handler, no
    propagation), so a later test's ``caplog`` still sees the package's records."""
    logger = logging.getLogger("imagefleet")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
