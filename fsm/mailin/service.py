"""Mail in: a message to the support address opens a work order, comments on one, or waits.

Who the sender is decides it, by the first rule that matches:
1. the address of an active client user, then of a client's contact person: that company;
2. the address's domain, if exactly one client has users, contacts or its own address
   there (public mail domains never count: any stranger can write from them);
otherwise the message is held for a dispatcher. A known company with exactly one site gets
its work order at once; with several the dispatcher picks the site. A reply naming a work
order becomes a public comment only when the sender is of that order's company.
The sender's `From` is taken as is: checking SPF/DKIM is the job of the mail server in front.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.principal import Principal
from fsm.clients.models import Client, ClientContact
from fsm.db import utcnow
from fsm.errors import InvalidState, NotFound, field_error
from fsm.mailin.models import HoldReason, InboundMail, InboundMailState
from fsm.mailin.parsing import ParsedMail, automatic_reason, parse, work_order_number
from fsm.pagination import Page, PageRequest
from fsm.photos.service import PhotoService
from fsm.settings import MailInSettings
from fsm.sites.models import Site
from fsm.users.models import ClientUserSite, Role, User
from fsm.workorders.models import WorkOrder, WorkOrderType
from fsm.workorders.service import WorkOrderDraft, WorkOrderService

# Domains anyone can have an address at: a match there says nothing about the company.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net",
        "web.de", "yandex.ru", "ya.ru", "mail.ru", "bk.ru", "list.ru", "inbox.ru", "rambler.ru",
    }
)  # fmt: skip
TITLE_CHARS = 200

Outcome = Literal["ignored", "duplicate", "opened", "commented", "held"]


class InboundMailNotFound(NotFound):
    """No such received message."""


class MailNotHeld(InvalidState):
    """The message was already assigned or discarded."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one received message."""

    outcome: Outcome
    reason: str | None = None
    inbound_mail_id: uuid.UUID | None = None
    work_order_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """The company a sender writes for, and the client user it is (when it is one)."""

    client_id: uuid.UUID
    user_id: uuid.UUID | None
    # The company's contact person it is (when it is exactly one): the request's requester.
    contact_id: uuid.UUID | None = None
    # The sites a site-limited client user is limited to; None: the whole company.
    site_ids: frozenset[uuid.UUID] | None = None

    def may_write_about(self, client_id: uuid.UUID, site_id: uuid.UUID) -> bool:
        """Whether the sender's mail may go on an order of this company at this site."""
        return self.client_id == client_id and (self.site_ids is None or site_id in self.site_ids)


class MailInService:
    """Received mail: turned into work, or held for a dispatcher to assign or discard."""

    def __init__(
        self,
        session: AsyncSession,
        work_orders: WorkOrderService,
        photos: PhotoService,
        settings: MailInSettings,
        *,
        own_domain: str,
    ) -> None:
        """`own_domain` is the domain of the Message-IDs our mail out writes."""
        self.session = session
        self.work_orders = work_orders
        self.photos = photos
        self.settings = settings
        self.own_domain = own_domain.lower()

    # Receiving

    async def receive(self, raw: bytes, *, envelope_from: str | None) -> Receipt:
        """Take one message: ignore a machine's, do nothing twice, then open, comment or hold."""
        mail = parse(raw, envelope_from=envelope_from)
        reason = automatic_reason(
            mail,
            envelope_from=envelope_from,
            own_domain=self.own_domain,
            own_address=self.settings.address,
        )
        if reason is not None:
            return Receipt("ignored", reason=reason)
        # The unique Message-ID makes a resend (after a lost 250, say) a no-op, even when
        # two copies arrive at once: the second insert waits for the first to commit.
        mail_id = await self.session.scalar(
            pg_insert(InboundMail)
            .values(
                id=uuid.uuid4(),
                message_id=mail.message_id,
                sender=mail.sender,
                subject=mail.subject,
                body=mail.body,
                state=InboundMailState.HELD,
                image_count=len(mail.images),
                received_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[InboundMail.message_id])
            .returning(InboundMail.id)
        )
        if mail_id is None:
            return Receipt("duplicate")
        record = await self.session.get_one(InboundMail, mail_id)
        sender = await self._sender(mail.sender)
        number = work_order_number(mail.subject)
        target = await self._work_order_by_number(number) if number else None
        if target is not None:
            if sender is None or not sender.may_write_about(target.client_id, target.site_id):
                return self._hold(record, raw, HoldReason.NOT_THE_SENDERS_ORDER, sender)
            await self._comment(record, mail, target, sender.user_id)
            return Receipt("commented", inbound_mail_id=record.id, work_order_id=target.id)
        if sender is None:
            ambiguous = await self._domain_is_ambiguous(mail.sender)
            reason_held = HoldReason.AMBIGUOUS_SENDER if ambiguous else HoldReason.UNKNOWN_SENDER
            return self._hold(record, raw, reason_held, None)
        sites = (
            await self.session.scalars(
                select(Site.id)
                .where(
                    Site.client_id == sender.client_id,
                    *(() if sender.site_ids is None else (Site.id.in_(sorted(sender.site_ids)),)),
                )
                .limit(2)
            )
        ).all()
        if len(sites) != 1:
            return self._hold(record, raw, HoldReason.SITE_UNKNOWN, sender)
        work_order = await self._open(
            record, mail, sites[0], sender.user_id, requester_id=sender.contact_id
        )
        return Receipt("opened", inbound_mail_id=record.id, work_order_id=work_order.id)

    def _hold(
        self, record: InboundMail, raw: bytes, reason: HoldReason, sender: Sender | None
    ) -> Receipt:
        record.state = InboundMailState.HELD
        record.hold_reason = reason
        record.client_id = sender.client_id if sender is not None else None
        record.raw = raw
        return Receipt("held", reason=reason.value, inbound_mail_id=record.id)

    async def _open(
        self,
        record: InboundMail,
        mail: ParsedMail,
        site_id: uuid.UUID,
        sender_id: uuid.UUID | None,
        *,
        requester_id: uuid.UUID | None = None,
    ) -> WorkOrder:
        title = mail.subject.strip() or (mail.body.strip().split("\n", 1)[0] or "Request by email")
        work_order = await self.work_orders.open_by_mail(
            WorkOrderDraft(
                site_id=site_id,
                type=WorkOrderType.REPAIR,
                title=title[:TITLE_CHARS],
                description=mail.body,
                requester_contact_id=requester_id,
            ),
            sender_id=sender_id,
        )
        await self._attach_images(mail, work_order.id, sender_id)
        self._accept(record, work_order)
        await self.session.flush()
        return work_order

    async def _comment(
        self,
        record: InboundMail,
        mail: ParsedMail,
        work_order: WorkOrder,
        sender_id: uuid.UUID | None,
    ) -> None:
        if mail.body.strip():
            await self.work_orders.add_mailed_comment(work_order.id, mail.body, author_id=sender_id)
        await self._attach_images(mail, work_order.id, sender_id)
        self._accept(record, work_order)
        await self.session.flush()

    async def _attach_images(
        self, mail: ParsedMail, work_order_id: uuid.UUID, sender_id: uuid.UUID | None
    ) -> None:
        for image in mail.images:
            await self.photos.attach_mailed(
                work_order_id, image.content_type, image.data, uploaded_by_id=sender_id
            )

    def _accept(self, record: InboundMail, work_order: WorkOrder) -> None:
        record.state = InboundMailState.ACCEPTED
        record.work_order_id = work_order.id
        record.client_id = work_order.client_id
        record.raw = None

    # Who wrote

    async def _sender(self, address: str) -> Sender | None:
        if "@" not in address:
            return None
        user = (
            await self.session.execute(
                select(User.id, User.client_id).where(
                    func.lower(User.email) == address,
                    User.role == Role.CLIENT,
                    User.is_active.is_(True),
                    User.client_id.is_not(None),
                )
            )
        ).first()
        if user is not None and user.client_id is not None:
            sites = (
                await self.session.scalars(
                    select(ClientUserSite.site_id).where(ClientUserSite.user_id == user.id)
                )
            ).all()
            return Sender(
                client_id=user.client_id, user_id=user.id, site_ids=frozenset(sites) or None
            )
        by_contact = await self._clients_where(func.lower(ClientContact.email) == address)
        if len(by_contact) == 1:
            contacts = (
                await self.session.scalars(
                    select(ClientContact.id).where(func.lower(ClientContact.email) == address)
                )
            ).all()
            return Sender(
                client_id=by_contact[0],
                user_id=None,
                contact_id=contacts[0] if len(contacts) == 1 else None,
            )
        if by_contact:
            return None
        by_domain = await self._clients_of_domain(address)
        return Sender(client_id=by_domain[0], user_id=None) if len(by_domain) == 1 else None

    async def _domain_is_ambiguous(self, address: str) -> bool:
        return len(await self._clients_of_domain(address)) > 1

    async def _clients_of_domain(self, address: str) -> Sequence[uuid.UUID]:
        domain = address.rpartition("@")[2]
        if not domain or domain in PUBLIC_MAIL_DOMAINS:
            return []
        suffix = "%@" + domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        users = select(User.client_id.label("client_id")).where(
            func.lower(User.email).like(suffix),
            User.role == Role.CLIENT,
            User.is_active.is_(True),
            User.client_id.is_not(None),
        )
        contacts = select(ClientContact.client_id.label("client_id")).where(
            func.lower(ClientContact.email).like(suffix)
        )
        companies = select(Client.id.label("client_id")).where(
            func.lower(Client.email).like(suffix), Client.is_active.is_(True)
        )
        union = users.union(contacts, companies).subquery()
        rows = await self.session.scalars(select(union.c.client_id).limit(2))
        return [row for row in rows.all() if row is not None]

    async def _clients_where(self, condition: ColumnElement[bool]) -> Sequence[uuid.UUID]:
        rows = await self.session.scalars(
            select(ClientContact.client_id).where(condition).distinct().limit(2)
        )
        return rows.all()

    async def _work_order_by_number(self, number: str) -> WorkOrder | None:
        return (
            await self.session.scalars(
                select(WorkOrder).where(WorkOrder.number == number).with_for_update()
            )
        ).one_or_none()

    # The dispatcher's side

    async def list(
        self, page: PageRequest, *, state: InboundMailState | None, viewer: Principal
    ) -> Page[InboundMail]:
        """Received messages, newest first; staff only (held ones are the queue)."""
        _staff_only(viewer)
        conditions = [InboundMail.state == state] if state is not None else []
        total = await self.session.scalar(
            select(func.count()).select_from(InboundMail).where(*conditions)
        )
        rows = await self.session.scalars(
            select(InboundMail)
            .where(*conditions)
            .order_by(InboundMail.received_at.desc(), InboundMail.id)
            .limit(page.limit)
            .offset(page.offset)
        )
        return Page(items=rows.all(), total=total or 0, limit=page.limit, offset=page.offset)

    async def get(self, mail_id: uuid.UUID, *, viewer: Principal) -> InboundMail:
        """One received message; staff only."""
        _staff_only(viewer)
        record = await self.session.get(InboundMail, mail_id)
        if record is None:
            raise InboundMailNotFound(f"received message {mail_id} not found")
        return record

    async def assign(
        self,
        mail_id: uuid.UUID,
        *,
        site_id: uuid.UUID | None,
        work_order_id: uuid.UUID | None,
        actor: Principal,
    ) -> InboundMail:
        """Turn a held message into a work order at `site_id`, or a comment on `work_order_id`."""
        record = await self._held(mail_id, actor)
        if (site_id is None) == (work_order_id is None):
            raise field_error("site_id", "give exactly one of site_id and work_order_id")
        assert record.raw is not None  # held messages keep their bytes
        mail = parse(record.raw)
        sender = await self._sender(record.sender)
        if work_order_id is not None:
            target = await self.session.get(WorkOrder, work_order_id, with_for_update=True)
            if target is None:
                raise field_error("work_order_id", "no such work order")
            author = _author_for(sender, target.client_id, target.site_id)
            await self._comment(record, mail, target, author)
        else:
            site = await self.session.get(Site, site_id)
            if site is None:
                raise field_error("site_id", "no such site")
            await self._open(
                record,
                mail,
                site.id,
                _author_for(sender, site.client_id, site.id),
                requester_id=sender.contact_id
                if sender is not None and sender.client_id == site.client_id
                else None,
            )
        record.decided_by_id = actor.user_id
        record.decided_at = utcnow()
        await self.session.flush()
        return record

    async def discard(self, mail_id: uuid.UUID, *, actor: Principal) -> InboundMail:
        """Drop a held message (spam, a thank-you): nothing is opened and its bytes go."""
        record = await self._held(mail_id, actor)
        record.state = InboundMailState.DISCARDED
        record.raw = None
        record.decided_by_id = actor.user_id
        record.decided_at = utcnow()
        await self.session.flush()
        return record

    async def _held(self, mail_id: uuid.UUID, actor: Principal) -> InboundMail:
        _staff_only(actor)
        record = await self.session.get(InboundMail, mail_id, with_for_update=True)
        if record is None:
            raise InboundMailNotFound(f"received message {mail_id} not found")
        if record.state is not InboundMailState.HELD:
            raise MailNotHeld(
                f"received message {mail_id} is {record.state.value}, not held",
                details={"state": record.state.value},
            )
        return record


def _author_for(
    sender: Sender | None, client_id: uuid.UUID, site_id: uuid.UUID
) -> uuid.UUID | None:
    """The client user named as author, only when the work is somewhere it may write about
    (its company; a site-limited user's sites)."""
    if sender is None or not sender.may_write_about(client_id, site_id):
        return None
    return sender.user_id


def _staff_only(viewer: Principal) -> None:
    if not viewer.is_staff:
        raise InboundMailNotFound("received mail is the back office's")
