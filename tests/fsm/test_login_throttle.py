"""The brake on password guessing: per email at an address, with backoff, behind proxies."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.auth.models import LoginThrottle
from fsm.main.app import create_app
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.users.models import Role, User
from tests.factories import PASSWORD, make_user
from tests.fsm.helpers import error_of

LOGIN = "/api/v1/auth/login"
WRONG_PASSWORD = "not the password at all"
# The peer address of the shared `client` fixture.
PEER = "203.0.113.7"


async def _user(session: AsyncSession) -> User:
    user = await make_user(session, role=Role.DISPATCHER)
    await session.commit()
    return user


async def _login(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    *,
    forwarded_for: str | None = None,
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(LOGIN, json={"email": email, "password": password}, headers=headers)


async def _fail(client: httpx.AsyncClient, email: str, times: int, **kwargs: Any) -> None:
    for _ in range(times):
        failed = await _login(client, email, WRONG_PASSWORD, **kwargs)
        assert error_of(failed, 401)["code"] == "invalid_credentials"


def _retry_after(response: httpx.Response) -> int:
    error = error_of(response, 429)
    assert error["code"] == "too_many_requests"
    assert "access_token" not in response.text
    retry_after = int(response.headers["retry-after"])
    assert error["details"] == {"retry_after_s": retry_after}
    return retry_after


async def _fail_past_waits(
    client: httpx.AsyncClient, session: AsyncSession, email: str, times: int, **kwargs: Any
) -> list[int]:
    """Fail `times` more, each after waiting out the wait the previous failure caused."""
    waits = []
    for _ in range(times):
        waits.append(_retry_after(await _login(client, email, WRONG_PASSWORD, **kwargs)))
        await _let_time_pass(session, waits[-1])
        await _fail(client, email, 1, **kwargs)
    return waits


async def _let_time_pass(session: AsyncSession, seconds: float) -> None:
    """Move every recorded failure into the past, as if we had waited."""
    await session.execute(
        update(LoginThrottle).values(
            last_failure_at=LoginThrottle.last_failure_at - timedelta(seconds=seconds)
        )
    )
    await session.commit()


@asynccontextmanager
async def _app_client(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
    *,
    peer: str,
    **auth: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with changed sign-in settings, connecting from `peer`."""
    changed = dataclasses.replace(settings, auth=dataclasses.replace(settings.auth, **auth))
    app = create_app(changed, session_factory=session_factory, object_store=object_store)
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class TestBackoff:
    async def test_after_the_free_failures_even_the_right_password_waits(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        await _fail(client, user.email, settings.auth.login_max_failures)

        response = await _login(client, user.email)

        assert _retry_after(response) == settings.auth.login_backoff_base_s

    async def test_failures_below_the_limit_still_allow_sign_in(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        await _fail(client, user.email, settings.auth.login_max_failures - 1)

        response = await _login(client, user.email)

        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == str(user.id)

    async def test_failures_are_counted_whatever_the_email_case(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        for n in range(settings.auth.login_max_failures):
            await _fail(client, user.email.upper() if n % 2 else user.email, 1)

        response = await _login(client, user.email)

        _retry_after(response)

    async def test_each_further_failure_doubles_the_wait(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        await _fail(client, user.email, settings.auth.login_max_failures)
        waits = await _fail_past_waits(client, session, user.email, 4)

        base = settings.auth.login_backoff_base_s
        assert waits == [base, base * 2, base * 4, base * 8]
        assert _retry_after(await _login(client, user.email)) == base * 16

    async def test_the_wait_is_capped(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        object_store: ObjectStore,
        session: AsyncSession,
    ) -> None:
        user = await _user(session)
        async with _app_client(
            settings,
            session_factory,
            object_store,
            peer=PEER,
            login_backoff_base_s=2,
            login_backoff_max_s=5,
        ) as client:
            await _fail(client, user.email, settings.auth.login_max_failures)
            waits = await _fail_past_waits(client, session, user.email, 4)

            assert waits == [2, 4, 5, 5]
            assert _retry_after(await _login(client, user.email)) == 5

    async def test_success_forgives_the_earlier_failures(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        await _fail(client, user.email, settings.auth.login_max_failures - 1)
        assert (await _login(client, user.email)).status_code == 200
        await _fail(client, user.email, settings.auth.login_max_failures - 1)

        response = await _login(client, user.email)

        assert response.status_code == 200, response.text

    async def test_failures_are_forgotten_a_window_after_the_wait(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        await _fail(client, user.email, settings.auth.login_max_failures)
        window_s = settings.auth.login_window_minutes * 60
        await _let_time_pass(session, settings.auth.login_backoff_base_s + window_s + 1)

        await _fail(client, user.email, settings.auth.login_max_failures - 1)
        response = await _login(client, user.email)

        assert response.status_code == 200, response.text


class TestOneAddressManyPeople:
    async def test_twenty_failures_on_one_account_leave_a_colleague_signing_in(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        attacked = await _user(session)
        colleague = await _user(session)
        await _fail(client, attacked.email, 5)
        await _fail_past_waits(client, session, attacked.email, 15)

        response = await _login(client, colleague.email)

        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == str(colleague.id)
        _retry_after(await _login(client, attacked.email))

    async def test_guessing_many_emails_from_an_address_blocks_no_right_password(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        for n in range(settings.auth.login_max_failures * 4):
            await _fail(client, f"guess-{n}@example.com", 1)

        response = await _login(client, user.email)

        assert response.status_code == 200, response.text

    async def test_past_the_address_cap_a_failing_email_waits_from_its_first_failure(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        object_store: ObjectStore,
        session: AsyncSession,
    ) -> None:
        mistyped = await _user(session)
        colleague = await _user(session)
        async with _app_client(
            settings, session_factory, object_store, peer=PEER, login_address_max_failures=6
        ) as client:
            for n in range(6):
                await _fail(client, f"guess-{n}@example.com", 1)
            await _fail(client, mistyped.email, 1)

            held_up = await _login(client, mistyped.email)
            passes = await _login(client, colleague.email)

        assert _retry_after(held_up) > 0
        assert passes.status_code == 200, passes.text

    async def test_failures_from_elsewhere_do_not_hold_up_the_owner(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        object_store: ObjectStore,
        client: httpx.AsyncClient,
        session: AsyncSession,
    ) -> None:
        owner = await _user(session)
        async with _app_client(
            settings, session_factory, object_store, peer="198.51.100.66"
        ) as attacker:
            await _fail(attacker, owner.email, settings.auth.login_max_failures)
            _retry_after(await _login(attacker, owner.email))

        response = await _login(client, owner.email)

        assert response.status_code == 200, response.text


class TestForwardedFor:
    async def test_a_forged_header_from_an_untrusted_peer_is_ignored(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        user = await _user(session)
        for n in range(settings.auth.login_max_failures):
            await _fail(client, user.email, 1, forwarded_for=f"192.0.2.{n + 1}")

        response = await _login(client, user.email, forwarded_for="192.0.2.200")

        _retry_after(response)
        keys = set(await session.scalars(select(LoginThrottle.key)))
        assert keys == {f"pair:{user.email.lower()}|{PEER}", f"addr:{PEER}"}

    async def test_a_trusted_proxy_chain_gives_the_right_most_untrusted_hop(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        object_store: ObjectStore,
        session: AsyncSession,
    ) -> None:
        user = await _user(session)
        async with _app_client(
            settings,
            session_factory,
            object_store,
            peer="10.0.0.2",
            trusted_proxies=(
                ipaddress.ip_network("10.0.0.0/8"),
                ipaddress.ip_network("2001:db8::1"),
            ),
        ) as client:
            for n in range(settings.auth.login_max_failures):
                # The left-most hops are the client's own word and change every time.
                chain = f"192.0.2.{n + 1}, 198.51.100.9, 2001:db8::1, 10.0.0.5"
                await _fail(client, user.email, 1, forwarded_for=chain)

            same_client = await _login(
                client, user.email, forwarded_for="192.0.2.99, 198.51.100.9, 10.0.0.5"
            )
            other_client = await _login(client, user.email, forwarded_for="198.51.100.10")

        _retry_after(same_client)
        assert other_client.status_code == 200, other_client.text
        keys = set(await session.scalars(select(LoginThrottle.key)))
        assert keys == {f"pair:{user.email.lower()}|198.51.100.9", "addr:198.51.100.9"}
