"""The unit of work: a request may end a transaction that only read, never one that wrote;
its session is closed however the request ends."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import end_reads
from fsm.users.models import Role, User
from tests.auth_helpers import login
from tests.factories import make_engineer, make_user


async def test_ends_a_transaction_that_only_read(session: AsyncSession) -> None:
    await session.scalar(select(User.id).limit(1))
    assert session.in_transaction()

    await end_reads(session)

    assert not session.in_transaction()


async def test_refuses_after_an_orm_write_and_keeps_it_for_the_unit_of_work(
    session: AsyncSession,
) -> None:
    user = await make_user(session, role=Role.DISPATCHER)  # flushed, not committed

    with pytest.raises(RuntimeError, match="outside the unit of work"):
        await end_reads(session)

    assert session.in_transaction()
    assert await session.get(User, user.id) is not None


async def test_refuses_after_a_bulk_update(session: AsyncSession) -> None:
    await session.execute(
        update(User).where(User.email == "nobody@example.invalid").values(full_name=User.full_name)
    )
    with pytest.raises(RuntimeError):
        await end_reads(session)


async def test_a_new_transaction_starts_clean(session: AsyncSession) -> None:
    await make_user(session, role=Role.DISPATCHER)
    await session.commit()
    await session.scalar(select(User.id).limit(1))

    await end_reads(session)


async def test_a_request_refused_by_a_dependency_leaves_no_session_behind(
    client: httpx.AsyncClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    """The idempotency key is checked after the request's session is open: a malformed one
    answers 422, and the session is closed with the request, not abandoned to the garbage
    collector (which logged "asynchronous generator is already running" for each)."""
    engineer = await make_engineer(session)
    headers = {**await login(client, engineer.user), "Idempotency-Key": "not-a-uuid"}
    body = {"points": [{"lat": 52.5, "lon": 13.4, "device_at": "2026-01-05T08:00:00Z"}]}

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(20):
            r = await client.post("/mobile/v1/engineer/location", json=body, headers=headers)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"][0]["field"] == "Idempotency-Key"
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)

    assert [rec.getMessage() for rec in caplog.records if rec.name == "asyncio"] == []
    # The same caller, with a good key, is served as usual afterwards.
    headers["Idempotency-Key"] = str(uuid.uuid4())
    r = await client.post("/mobile/v1/engineer/location", json=body, headers=headers)
    assert r.status_code == 200, r.text
