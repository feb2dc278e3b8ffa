"""Mail in, end to end: real SMTP to `fsm mail-in`'s server, real PostgreSQL and S3 behind it."""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.clients.models import ClientContact
from fsm.mailin.models import InboundMail
from fsm.mailin.smtp import start_server
from fsm.main.mail_in import delivery
from fsm.photos.models import Photo, PhotoState
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.users.models import Role
from fsm.users.service import UserService
from fsm.workorders.models import Channel, Comment, Priority, WorkOrder
from tests.auth_helpers import login
from tests.factories import make_client, make_policy, make_site, make_user
from tests.fsm.wo_helpers import open_order
from tests.photos.images import jpeg, png

SUPPORT = "support@fieldline.localhost"
Send = Callable[..., Awaitable[None]]


@pytest.fixture
async def send(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    object_store: ObjectStore,
) -> AsyncIterator[Send]:
    """Send a message over SMTP to the mail-in server (on this test's loop and data)."""
    mail_settings = dataclasses.replace(settings.mail_in, port=0, address=SUPPORT)
    app_settings = dataclasses.replace(settings, mail_in=mail_settings)
    server = await start_server(
        delivery(app_settings, session_factory, object_store), mail_settings
    )
    port = server.sockets[0].getsockname()[1]

    def deliver(message: EmailMessage, to: str, mail_from: str) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.send_message(message, from_addr=mail_from, to_addrs=[to])

    async def send_one(message: EmailMessage, *, to: str = SUPPORT, mail_from: str = "") -> None:
        sender = mail_from or str(message["From"])
        await asyncio.to_thread(deliver, message, to, sender)

    yield send_one
    server.close()
    await server.wait_closed()


def message(
    sender: str,
    subject: str,
    body: str,
    *,
    images: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = SUPPORT
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="client.example")
    mail.set_content(body)
    for n, (kind, data) in enumerate(images):
        maintype, subtype = kind.split("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=f"photo{n}.jpg")
    return mail


async def orders_of(session: AsyncSession, client_id: object) -> list[WorkOrder]:
    rows = await session.scalars(
        select(WorkOrder)
        .where(WorkOrder.client_id == client_id)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def mails(session: AsyncSession) -> list[InboundMail]:
    rows = await session.scalars(
        select(InboundMail)
        .order_by(InboundMail.received_at)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


class TestNewRequests:
    async def test_a_client_users_mail_opens_an_email_request_with_its_checked_photos(
        self, send: Send, session: AsyncSession, client: httpx.AsyncClient
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        site = await make_site(session, client=company)
        user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        not_a_jpeg = png()  # declared a JPEG: the same check as an app upload refuses it
        await send(
            message(
                user.email,
                "Лифт стоит между этажами",
                "Лифт в подъезде 2 не едет утром.\n\n> старая цитата",
                images=[("image/jpeg", jpeg()), ("image/jpeg", not_a_jpeg)],
            )
        )
        [order] = await orders_of(session, company.id)
        assert order.channel is Channel.EMAIL
        assert order.priority is Priority.NORMAL
        assert (order.site_id, order.created_by_id) == (site.id, user.id)
        assert order.title == "Лифт стоит между этажами"
        assert order.description == "Лифт в подъезде 2 не едет утром."
        photos = (await session.scalars(select(Photo).where(Photo.work_order_id == order.id))).all()
        states = sorted((p.state.value, p.reject_reason or "") for p in photos)
        assert states == [("rejected", "photo_not_an_image"), ("stored", "")]
        assert all(p.is_client_visible and p.uploaded_by_id == user.id for p in photos)
        # The client sees its mailed request in its app like one it opened there.
        listed = await client.get("/mobile/v1/client/requests", headers=await login(client, user))
        assert [r["number"] for r in listed.json()["items"]] == [order.number]

    async def test_a_colleague_at_the_companys_domain_opens_one_and_a_resend_changes_nothing(
        self, send: Send, session: AsyncSession
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        await make_site(session, client=company)
        session.add(ClientContact(client_id=company.id, name="Olga", email="olga@acme-lifts.ru"))
        await session.commit()
        mail = message("Ivan <ivan@ACME-lifts.ru>", "Door sensor broken", "Please come.")
        await send(mail)
        await send(mail)  # the sending server lost our 250 and tries again
        [order] = await orders_of(session, company.id)
        assert order.channel is Channel.EMAIL
        assert order.created_by_id is None
        # A colleague by domain is not a contact on record: no requester is guessed.
        assert order.requester_contact_id is None
        assert [(m.sender, m.state.value) for m in await mails(session)] == [
            ("ivan@acme-lifts.ru", "accepted")
        ]

    async def test_a_contact_persons_mail_names_them_the_requester(
        self, send: Send, session: AsyncSession
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        await make_site(session, client=company)
        olga = ClientContact(client_id=company.id, name="Olga", email="olga@boiler-house.de")
        session.add(olga)
        await session.commit()
        await send(message("Olga <Olga@boiler-house.de>", "Boiler pressure low", "Since today."))
        [order] = await orders_of(session, company.id)
        assert order.requester_contact_id == olga.id
        assert order.created_by_id is None


class TestReplies:
    async def test_a_reply_naming_the_order_is_a_public_comment_the_client_reads(
        self, send: Send, session: AsyncSession, client: httpx.AsyncClient
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        await make_site(session, client=company)
        user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        await send(message(user.email, "Lift stuck", "It stopped."))
        [order] = await orders_of(session, company.id)
        reply = message(
            user.email,
            f"Re: [{order.number}] Lift stuck",
            "It works again, thanks.\n\nOn Tue, Dec 1, 2026 Support wrote:\n> We are coming",
        )
        await send(reply)
        assert len(await orders_of(session, company.id)) == 1
        answer = await client.get(
            f"/mobile/v1/client/requests/{order.id}/comments", headers=await login(client, user)
        )
        comments = answer.json()["items"]
        assert [(c["body"], c["is_mine"]) for c in comments] == [("It works again, thanks.", True)]

    async def test_a_reply_naming_another_companys_order_is_held_not_added(
        self, send: Send, session: AsyncSession
    ) -> None:
        await make_policy(session)
        victim = await make_client(session)
        await make_site(session, client=victim)
        victim_user = await make_user(session, role=Role.CLIENT, client=victim)
        intruder = await make_user(session, role=Role.CLIENT)
        await session.commit()
        await send(message(victim_user.email, "Lift stuck", "It stopped."))
        [order] = await orders_of(session, victim.id)
        await send(message(intruder.email, f"Re: {order.number}", "Cancel this, please."))
        count = await session.scalar(select(func.count()).select_from(Comment))
        assert count == 0
        held = (await mails(session))[-1]
        assert (held.state.value, held.hold_reason) == ("held", "not_the_senders_order")

    async def test_a_branch_manager_opens_at_its_one_site_and_cannot_reply_to_anothers(
        self, send: Send, session: AsyncSession
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        north = await make_site(session, client=company)
        south = await make_site(session, client=company)
        branch = await make_user(session, role=Role.CLIENT, client=company)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        await UserService(session).update(branch.id, site_ids=[north.id])
        southern = await open_order(session, site=south, actor=dispatcher, title="South door")
        await session.commit()

        # The company has two sites, but the sender sees one: the request is opened there.
        await send(message(branch.email, "Lift stuck", "It stopped."))
        opened = [o for o in await orders_of(session, company.id) if o.id != southern.id]
        assert [(o.title, o.site_id) for o in opened] == [("Lift stuck", north.id)]
        await send(message(branch.email, f"Re: {southern.number}", "Cancel this, please."))
        count = await session.scalar(select(func.count()).select_from(Comment))
        assert count == 0
        held = (await mails(session))[-1]
        assert (held.state.value, held.hold_reason) == ("held", "not_the_senders_order")


class TestNotForUs:
    @pytest.mark.parametrize(
        ("header", "value"),
        [
            ("Auto-Submitted", "auto-replied"),
            ("Precedence", "bulk"),
            ("Message-ID", "<fieldline-delivery-7@fieldline.local>"),
        ],
    )
    async def test_auto_replies_and_our_own_mail_open_nothing(
        self, send: Send, session: AsyncSession, header: str, value: str
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        await make_site(session, client=company)
        user = await make_user(session, role=Role.CLIENT, client=company)
        await session.commit()
        mail = message(user.email, "Out of office", "I am away until Monday.")
        del mail[header]
        mail[header] = value
        await send(mail)
        assert await orders_of(session, company.id) == []
        assert await mails(session) == []

    async def test_mail_for_another_address_is_refused(self, send: Send) -> None:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await send(message("x@example.org", "Hi", "Relay me"), to="boss@example.org")


class TestHeldForADispatcher:
    async def test_a_dispatcher_assigns_or_discards_what_nobody_else_may_see(
        self, send: Send, session: AsyncSession, client: httpx.AsyncClient
    ) -> None:
        await make_policy(session)
        company = await make_client(session)
        await make_site(session, client=company)
        other_site = await make_site(session, client=company)
        member = await make_user(session, role=Role.CLIENT, client=company)
        dispatcher = await make_user(session, role=Role.DISPATCHER)
        engineer = await make_user(session, role=Role.ENGINEER)
        await session.commit()
        await send(
            message("stranger@unknown.example", "Broken lift", "At Main St 5.",
                    images=[("image/jpeg", jpeg())])
        )  # fmt: skip
        await send(message(member.email, "Which site?", "Two sites, none named."))
        await send(message("spam@unknown.example", "Cheap pills", "Buy now"))
        staff = await login(client, dispatcher)

        for outsider in (member, engineer):
            refused = await client.get(
                "/api/v1/inbound-mail", headers=await login(client, outsider)
            )
            assert refused.status_code == 403
        queue = await client.get("/api/v1/inbound-mail?state=held", headers=staff)
        assert queue.status_code == 200
        held = {m["subject"]: m for m in queue.json()["items"]}
        assert held["Broken lift"]["hold_reason"] == "unknown_sender"
        assert held["Which site?"]["hold_reason"] == "site_unknown"
        assert held["Which site?"]["client_id"] == str(company.id)

        lift = held["Broken lift"]["id"]
        assigned = await client.post(
            f"/api/v1/inbound-mail/{lift}/assign",
            json={"site_id": str(other_site.id)},
            headers=staff,
        )
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["state"] == "accepted"
        order = await session.get_one(WorkOrder, assigned.json()["work_order_id"])
        assert (order.channel, order.site_id) == (Channel.EMAIL, other_site.id)
        photo_states = (
            await session.scalars(select(Photo.state).where(Photo.work_order_id == order.id))
        ).all()
        assert photo_states == [PhotoState.STORED]
        again = await client.post(
            f"/api/v1/inbound-mail/{lift}/assign",
            json={"site_id": str(other_site.id)},
            headers=staff,
        )
        assert (again.status_code, again.json()["error"]["code"]) == (409, "mail_not_held")

        spam = held["Cheap pills"]["id"]
        both = await client.post(
            f"/api/v1/inbound-mail/{spam}/assign",
            json={"site_id": str(other_site.id), "work_order_id": str(order.id)},
            headers=staff,
        )
        assert both.status_code == 422
        dropped = await client.post(f"/api/v1/inbound-mail/{spam}/discard", headers=staff)
        assert dropped.json()["state"] == "discarded"
        assert len(await orders_of(session, company.id)) == 1
