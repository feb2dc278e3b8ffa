"""The one error body for everything that goes wrong, and no internals in it."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.users.models import Role
from tests.fsm.helpers import error_of, invalid_fields, signed_in


class TestUnknownRoute:
    async def test_unknown_path_is_not_found_in_the_error_body(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/no/such/place")

        assert error_of(response, 404)["code"] == "not_found"

    async def test_unknown_api_path_is_not_found_for_a_signed_in_user(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.get("/api/v1/nothing-here", headers=headers)

        assert error_of(response, 404)["code"] == "not_found"


class TestWrongMethod:
    async def test_wrong_method_is_refused_in_the_error_body(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.delete("/api/v1/clients", headers=headers)

        assert error_of(response, 405)["code"] == "method_not_allowed"
        assert "GET" in response.headers["allow"]
        assert "DELETE" not in response.headers["allow"]

    async def test_get_on_login_is_refused_in_the_error_body(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/v1/auth/login")

        assert error_of(response, 405)["code"] == "method_not_allowed"


class TestMalformedBody:
    async def test_broken_json_is_a_client_error_without_internals(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/v1/auth/login",
            content=b'{"email": "a@b.c", "password": ',
            headers={"content-type": "application/json"},
        )

        error = error_of(response, 400)
        assert error["code"] == "bad_request"
        assert "Traceback" not in response.text
        assert 'File "' not in response.text

    async def test_broken_json_on_a_protected_route_is_a_client_error(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/clients",
            content=b"{name: Acme}",
            headers={**headers, "content-type": "application/json"},
        )

        assert error_of(response, 400)["code"] == "bad_request"
        assert "Traceback" not in response.text

    async def test_wrong_json_type_is_a_validation_error(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.post("/api/v1/clients", json=["Acme"], headers=headers)

        error = error_of(response, 422)
        assert error["code"] == "validation_error"
        assert "Traceback" not in response.text


class TestValidationDetailsNameTheField:
    async def test_missing_field_is_named(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/v1/auth/refresh", json={})

        assert invalid_fields(response) == ["refresh_token"]

    async def test_unknown_field_is_named(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/clients", json={"name": "Acme", "vat_rate": 19}, headers=headers
        )

        assert invalid_fields(response) == ["vat_rate"]

    async def test_nested_missing_field_is_named_with_its_path(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/clients", json={"name": "Acme", "contacts": [{}]}, headers=headers
        )

        assert invalid_fields(response) == ["contacts[0].name"]


class TestOneValidationCode:
    async def test_rule_violations_share_the_code_of_malformed_input(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        malformed = await client.get("/api/v1/sites", params={"limit": 0}, headers=headers)
        rule_broken = await client.get("/api/v1/sites", params={"near": "x"}, headers=headers)

        assert invalid_fields(malformed) == ["limit"]
        assert invalid_fields(rule_broken) == ["near"]
        assert error_of(rule_broken, 422)["code"] == error_of(malformed, 422)["code"]


def _client_error(response: httpx.Response) -> dict[str, object]:
    """A 4xx in the error body: the caller's input was refused, not our server broken."""
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text
    return error_of(response, response.status_code)


class TestHostileInputIsRefusedNotCrashed:
    async def test_offset_beyond_bigint_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.get("/api/v1/clients", params={"offset": 10**20}, headers=headers)

        assert invalid_fields(response) == ["offset"]

    async def test_nul_character_in_search_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.get("/api/v1/clients", params={"q": "a\x00b"}, headers=headers)

        assert _client_error(response)["code"] != "internal_error"

    async def test_nul_character_in_a_name_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        _, headers = await signed_in(client, session, Role.ADMIN)

        response = await client.post(
            "/api/v1/clients", json={"name": "Acme\x00Evil"}, headers=headers
        )

        assert _client_error(response)["code"] != "internal_error"

    async def test_nul_character_in_login_email_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/login", json={"email": "ann\x00@example.com", "password": "whatever"}
        )

        assert _client_error(response)["code"] != "internal_error"
