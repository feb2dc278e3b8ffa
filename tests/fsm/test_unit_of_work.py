"""`end_reads`: a request may end a transaction that only read, never one that wrote."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.db import end_reads
from fsm.users.models import Role, User
from tests.factories import make_user


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
