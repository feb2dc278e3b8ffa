"""Migrations: an empty database upgrades to head, matches the models, and downgrades."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import fsm.main.models  # noqa: F401 - every table on the metadata
from fsm.db import Base
from fsm.main.migrate import downgrade, upgrade
from migrations.filters import include_object
from tests.conftest import Infra


@pytest.fixture
def empty_database(infra: Infra) -> Iterator[str]:
    """A brand-new database with only PostGIS enabled, dropped afterwards."""
    if infra.postgres is None:
        pytest.fail("the migration test needs the test run's own cluster")
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    infra.postgres.ensure_database(name)
    try:
        yield infra.postgres.dsn(name, driver="psycopg")
    finally:
        infra.postgres.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": include_object, "compare_type": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


class TestUpgradeFromEmpty:
    def test_schema_at_head_matches_the_models(self, empty_database: str) -> None:
        upgrade(empty_database)
        assert _differences(empty_database) == []

    def test_downgrade_to_base_removes_our_tables_and_upgrade_works_again(
        self, empty_database: str
    ) -> None:
        upgrade(empty_database)
        downgrade(empty_database, "base")
        engine = create_engine(empty_database)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names()) - {"spatial_ref_sys"}
        finally:
            engine.dispose()
        assert tables == {"alembic_version"}
        upgrade(empty_database)
        assert _differences(empty_database) == []
