"""Shared checks for controller tests: the one error body, and signing in by role."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.users.models import Role, User
from tests.auth_helpers import login
from tests.factories import make_user


def error_of(response: httpx.Response, status_code: int) -> dict[str, Any]:
    """The `error` object of a response, after checking its status and the body's shape."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def invalid_fields(response: httpx.Response) -> list[str]:
    """The fields a 422 answer names in its details."""
    error = error_of(response, 422)
    details = error["details"]
    assert isinstance(details, list), error
    return [str(d.get("field")) for d in details]


def assert_forbidden(response: httpx.Response) -> None:
    """A 403 in the API's error body."""
    assert error_of(response, 403)["code"] == "forbidden"


def assert_not_found(response: httpx.Response) -> dict[str, Any]:
    """A 404 in the API's error body."""
    error = error_of(response, 404)
    assert error["code"].endswith("not_found"), error
    return error


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    """A 401 in the API's error body that tells the client to send a bearer token."""
    error = error_of(response, 401)
    assert response.headers.get("www-authenticate") == "Bearer"
    return error


async def signed_in(
    client: httpx.AsyncClient,
    session: AsyncSession,
    role: Role,
    *,
    of_client: Client | None = None,
) -> tuple[User, dict[str, str]]:
    """A committed user with `role` and the headers of their fresh sign-in."""
    user = await make_user(session, role=role, client=of_client)
    await session.commit()
    return user, await login(client, user)


def unknown_references(response: httpx.Response) -> list[str]:
    """The fields a 409 `unknown_reference` answer names: ids in the input naming nothing."""
    error = error_of(response, 409)
    assert error["code"] == "unknown_reference", error
    return [str(d.get("field")) for d in error["details"]]
