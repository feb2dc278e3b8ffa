"""Two reservations with the same app-generated photo id, in two real concurrent transactions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.auth.principal import Principal
from fsm.clients.models import Client
from fsm.photos.models import Photo, PhotoState
from fsm.photos.service import PhotoDraft, PhotoIdTaken, PhotoService, Reservation
from fsm.settings import PhotoSettings
from fsm.sites.models import Site
from fsm.storage import ObjectStore
from fsm.users.models import Role, User
from fsm.workorders.models import Channel, Priority, WorkOrder, WorkOrderStatus, WorkOrderType
from tests.factories import make_client, make_site, make_user
from tests.fsm.wo_helpers import principal_of
from tests.photos import images
from tests.photos.helpers import draft_for

SETTINGS = PhotoSettings(max_bytes=200_000)
DATA = images.png()


@dataclass(frozen=True)
class Committed:
    """A client's request committed for real, so two transactions can race on it."""

    principal: Principal
    work_order_id: uuid.UUID


@pytest.fixture
async def committed_request(engine: AsyncEngine) -> AsyncIterator[Committed]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        customer = await make_client(session)
        site = await make_site(session, client=customer)
        user = await make_user(session, role=Role.CLIENT, client=customer)
        order = WorkOrder(
            number=f"WO-P-{uuid.uuid4().hex[:8]}",
            client_id=customer.id,
            site_id=site.id,
            type=WorkOrderType.REPAIR,
            priority=Priority.NORMAL,
            channel=Channel.CLIENT_APP,
            status=WorkOrderStatus.NEW,
            title="Photo race",
        )
        session.add(order)
        await session.commit()
    try:
        yield Committed(principal=principal_of(user), work_order_id=order.id)
    finally:
        async with AsyncSession(engine) as session:
            await session.execute(delete(Photo).where(Photo.work_order_id == order.id))
            await session.execute(delete(WorkOrder).where(WorkOrder.id == order.id))
            await session.execute(delete(User).where(User.id == user.id))
            await session.execute(delete(Site).where(Site.id == site.id))
            await session.execute(delete(Client).where(Client.id == customer.id))
            await session.commit()


async def _reserve(
    session: AsyncSession, store: ObjectStore, committed: Committed, draft: PhotoDraft
) -> Reservation:
    return await PhotoService(session, store, SETTINGS).reserve_for_work_order(
        committed.work_order_id, draft, actor=committed.principal
    )


class TestConcurrentReserve:
    async def test_the_second_waits_and_gets_the_same_photo_with_a_fresh_slot(
        self, engine: AsyncEngine, object_store: ObjectStore, committed_request: Committed
    ) -> None:
        draft = draft_for(DATA, "image/png", photo_id=uuid.uuid4())
        async with (
            AsyncSession(engine, expire_on_commit=False) as first,
            AsyncSession(engine, expire_on_commit=False) as second,
        ):
            won = await _reserve(first, object_store, committed_request, draft)
            # The second insert waits on the first's uncommitted row.
            racing = asyncio.create_task(_reserve(second, object_store, committed_request, draft))
            await asyncio.sleep(0.2)
            await first.commit()
            replayed = await racing
            await second.commit()
            count = await second.scalar(
                select(func.count()).select_from(Photo).where(Photo.id == draft.photo_id)
            )

        assert won.photo.id == replayed.photo.id == draft.photo_id
        assert replayed.photo.state is PhotoState.PENDING
        assert won.upload is not None
        assert replayed.upload is not None
        assert count == 1

    async def test_the_second_with_other_details_is_refused_as_taken(
        self, engine: AsyncEngine, object_store: ObjectStore, committed_request: Committed
    ) -> None:
        photo_id = uuid.uuid4()
        draft = draft_for(DATA, "image/png", photo_id=photo_id)
        other = draft_for(images.jpeg(), "image/jpeg", photo_id=photo_id)
        async with (
            AsyncSession(engine, expire_on_commit=False) as first,
            AsyncSession(engine, expire_on_commit=False) as second,
        ):
            await _reserve(first, object_store, committed_request, draft)
            racing = asyncio.create_task(_reserve(second, object_store, committed_request, other))
            await asyncio.sleep(0.2)
            await first.commit()
            with pytest.raises(PhotoIdTaken) as taken:
                await racing
            await second.rollback()

        assert taken.value.code == "photo_id_taken"

    async def test_when_the_first_rolls_back_the_second_reserves_it(
        self, engine: AsyncEngine, object_store: ObjectStore, committed_request: Committed
    ) -> None:
        draft = draft_for(DATA, "image/png", photo_id=uuid.uuid4())
        async with (
            AsyncSession(engine, expire_on_commit=False) as first,
            AsyncSession(engine, expire_on_commit=False) as second,
        ):
            await _reserve(first, object_store, committed_request, draft)
            racing = asyncio.create_task(_reserve(second, object_store, committed_request, draft))
            await asyncio.sleep(0.2)
            await first.rollback()
            reservation = await racing
            await second.commit()

        assert reservation.photo.id == draft.photo_id
        assert reservation.upload is not None
