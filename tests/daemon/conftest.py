"""What the daemon tests share: the daemon's log, captured as structured events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import structlog


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The daemon's log, as structured events (``tests.support.inprocess.logged`` picks)."""
    with structlog.testing.capture_logs() as captured:
        yield captured
