"""Fixtures every suite shares."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _package_logger() -> Iterator[None]:
    """Undo what a task run in-process does to the package's logger (its own handler, no
    propagation), so a later test's ``caplog`` still sees the package's records."""
    logger = logging.getLogger("imagefleet")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
