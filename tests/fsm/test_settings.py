"""Unit tests of reading settings from explicit environment mappings."""

from __future__ import annotations

import pytest

from fsm.settings import SettingsError, load_settings

GOOD_SECRET = "a-production-secret-that-is-long-enough-0123"

PRODUCTION: dict[str, str] = {
    "FSM_ENV": "production",
    "FSM_DATABASE_URL": "postgresql+asyncpg://app@db.internal:5432/fieldline",
    "FSM_JWT_SECRET": GOOD_SECRET,
    "FSM_S3_BUCKET": "fieldline-prod",
    "FSM_S3_ACCESS_KEY": "prod-access",
    "FSM_S3_SECRET_KEY": "prod-secret",
}


class TestDevelopmentDefaults:
    def test_empty_environment_is_development(self) -> None:
        settings = load_settings({})

        assert settings.env == "development"
        assert settings.is_production is False

    def test_empty_environment_uses_local_services(self) -> None:
        settings = load_settings({})

        assert settings.database.url.startswith("postgresql+asyncpg://")
        assert "127.0.0.1" in settings.database.url
        assert (settings.s3.endpoint_url or "").startswith("http://127.0.0.1:")
        assert settings.s3.bucket == "fieldline"

    def test_empty_environment_has_documented_auth_limits(self) -> None:
        settings = load_settings({})

        assert settings.auth.access_token_minutes == 15
        assert settings.auth.refresh_token_days == 30
        assert settings.auth.login_max_failures == 5
        assert settings.auth.login_window_minutes == 15
        assert len(settings.auth.jwt_secret) >= 32

    def test_empty_environment_keeps_sql_echo_off(self) -> None:
        settings = load_settings({})

        assert settings.database.echo is False
        assert settings.solver.time_limit_s == 10

    def test_explicit_values_override_defaults(self) -> None:
        settings = load_settings(
            {"FSM_PORT": "9001", "FSM_DATABASE_ECHO": "yes", "FSM_LOGIN_MAX_FAILURES": "3"}
        )

        assert settings.port == 9001
        assert settings.database.echo is True
        assert settings.auth.login_max_failures == 3


class TestProductionRequirements:
    def test_complete_production_environment_loads(self) -> None:
        settings = load_settings(PRODUCTION)

        assert settings.is_production is True
        assert settings.auth.jwt_secret == GOOD_SECRET
        assert settings.s3.bucket == "fieldline-prod"

    def test_missing_variables_are_all_named(self) -> None:
        with pytest.raises(SettingsError) as caught:
            load_settings({"FSM_ENV": "production"})

        message = str(caught.value)
        for name in (
            "FSM_DATABASE_URL",
            "FSM_JWT_SECRET",
            "FSM_S3_BUCKET",
            "FSM_S3_ACCESS_KEY",
            "FSM_S3_SECRET_KEY",
        ):
            assert f"{name}: required in production" in message

    def test_one_missing_variable_is_named_alone(self) -> None:
        environ = {k: v for k, v in PRODUCTION.items() if k != "FSM_S3_SECRET_KEY"}

        with pytest.raises(SettingsError) as caught:
            load_settings(environ)

        message = str(caught.value)
        assert "FSM_S3_SECRET_KEY: required in production" in message
        assert "FSM_DATABASE_URL" not in message
        assert "FSM_JWT_SECRET" not in message

    def test_empty_value_counts_as_missing(self) -> None:
        with pytest.raises(SettingsError, match="FSM_S3_ACCESS_KEY: required in production"):
            load_settings({**PRODUCTION, "FSM_S3_ACCESS_KEY": ""})

    def test_short_jwt_secret_is_refused(self) -> None:
        with pytest.raises(SettingsError, match="FSM_JWT_SECRET: must be at least 32 characters"):
            load_settings({**PRODUCTION, "FSM_JWT_SECRET": "x" * 31})

    def test_development_jwt_secret_is_refused(self) -> None:
        dev_secret = load_settings({}).auth.jwt_secret

        with pytest.raises(SettingsError, match="FSM_JWT_SECRET"):
            load_settings({**PRODUCTION, "FSM_JWT_SECRET": dev_secret})

    def test_short_jwt_secret_is_accepted_outside_production(self) -> None:
        settings = load_settings({"FSM_ENV": "test", "FSM_JWT_SECRET": "short"})

        assert settings.auth.jwt_secret == "short"


class TestMalformedValues:
    def test_non_integer_is_named_with_its_value(self) -> None:
        with pytest.raises(SettingsError) as caught:
            load_settings({"FSM_PORT": "eighty"})

        assert "FSM_PORT: expected a whole number, got 'eighty'" in str(caught.value)

    def test_integer_below_minimum_is_named(self) -> None:
        with pytest.raises(SettingsError, match="FSM_DATABASE_POOL_SIZE: must be at least 1"):
            load_settings({"FSM_DATABASE_POOL_SIZE": "0"})

    def test_non_boolean_is_named_with_its_value(self) -> None:
        with pytest.raises(SettingsError) as caught:
            load_settings({"FSM_DATABASE_ECHO": "maybe"})

        assert "FSM_DATABASE_ECHO: expected true or false, got 'maybe'" in str(caught.value)

    def test_every_malformed_value_is_named_at_once(self) -> None:
        with pytest.raises(SettingsError) as caught:
            load_settings(
                {
                    "FSM_ACCESS_TOKEN_MINUTES": "1.5",
                    "FSM_DATABASE_ECHO": "sometimes",
                    "FSM_SOLVER_ROAD_FACTOR": "fast",
                }
            )

        message = str(caught.value)
        assert "FSM_ACCESS_TOKEN_MINUTES" in message
        assert "FSM_DATABASE_ECHO" in message
        assert "FSM_SOLVER_ROAD_FACTOR" in message

    def test_unknown_environment_name_is_refused(self) -> None:
        with pytest.raises(SettingsError, match="FSM_ENV: expected development, test"):
            load_settings({"FSM_ENV": "staging"})

    def test_non_postgresql_url_is_refused(self) -> None:
        with pytest.raises(SettingsError, match="FSM_DATABASE_URL"):
            load_settings({"FSM_DATABASE_URL": "mysql://app@db/fieldline"})


class TestDatabaseUrl:
    def test_plain_postgresql_url_gets_the_asyncpg_driver(self) -> None:
        settings = load_settings({"FSM_DATABASE_URL": "postgresql://app:pw@db:5432/fieldline"})

        assert settings.database.url == "postgresql+asyncpg://app:pw@db:5432/fieldline"

    def test_asyncpg_url_is_kept(self) -> None:
        url = "postgresql+asyncpg://app@db:5432/fieldline"

        assert load_settings({"FSM_DATABASE_URL": url}).database.url == url

    def test_sync_url_uses_psycopg(self) -> None:
        settings = load_settings({"FSM_DATABASE_URL": "postgresql://app@db:5432/fieldline"})

        assert settings.database.sync_url == "postgresql+psycopg://app@db:5432/fieldline"
