"""A database of its own for the reports' concurrency tests: two transactions commit for
real there, as two API processes would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fsm.settings import Settings
from tests.conftest import Infra, Live, live_database


@pytest.fixture(scope="package")
async def live(infra: Infra, settings: Settings) -> AsyncIterator[Live]:
    """This package's live database: other packages' committed rows never show here."""
    async with live_database(infra, settings) as db:
        yield db
