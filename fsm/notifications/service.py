"""Who is told of each outbox event, their preferences, and sending each mail once.

Fan-out (`fan_out`) runs in the transaction that moves the `mail` consumer's outbox
position, so every event becomes its deliveries exactly once. Who gets what:

- the company's client users: request received, visit scheduled, engineer on the way,
  visit completed, request resolved (`Audience.CLIENT`, rendered from the payload alone);
- dispatchers: SLA at risk and breached, a critical request, a rating of 3 or less, an
  engineer who cannot complete;
- the engineer concerned: a job added to or taken from today, a changed time.

A user's preference for a kind (`notification_preferences`) turns its mail off or on;
without one, mail is on. Only active users with an address are written to.

Sending (`send_deliveries`) locks the delivery row (SKIP LOCKED), sends, and marks it sent
in one transaction: two workers never send one delivery, and a worker killed mid-send
leaves it pending for the retry. The SMTP exchange is the only thing not undone by a
crash: a crash after the server accepted the message and before the commit sends it again,
with the same Message-ID, so a mail client shows it once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.db import session_scope, utcnow
from fsm.engineers.models import Engineer
from fsm.errors import field_error
from fsm.notifications.models import DeliveryStatus, MailDelivery, NotificationPreference
from fsm.notifications.templates import LANGUAGES, MAIL_KINDS, Mail, render
from fsm.outbox import AUDIENCES, Audience, EventKind, OutboxEvent, consume
from fsm.settings import MailSettings
from fsm.users.models import ClientUserSite, Role, User
from fsm.workorders.models import WorkOrder

log = logging.getLogger("fsm.notifications")

CONSUMER = "mail"

# The kinds each role may be told of (and so may set a preference for).
KINDS_FOR_ROLE: Mapping[Role, tuple[EventKind, ...]] = {
    role: tuple(k for k, a in AUDIENCES.items() if a is audience and k in MAIL_KINDS)
    for role, audience in (
        (Role.CLIENT, Audience.CLIENT),
        (Role.DISPATCHER, Audience.STAFF),
        (Role.ENGINEER, Audience.ENGINEER),
    )
} | {Role.ADMIN: ()}
# Engineers hear of changes to today's work only; later days are in their app.
_TODAY_ONLY = frozenset({EventKind.JOB_ADDED, EventKind.JOB_REMOVED, EventKind.JOB_TIME_CHANGED})


# -- preferences --------------------------------------------------------------------------


async def preferences_of(session: AsyncSession, user: User) -> dict[str, bool]:
    """Every kind the user may be told of, with whether it comes by mail."""
    rows = await session.execute(
        select(NotificationPreference.kind, NotificationPreference.by_mail).where(
            NotificationPreference.user_id == user.id
        )
    )
    chosen: dict[str, bool] = {kind: by_mail for kind, by_mail in rows}  # noqa: C416 - rows
    return {k.value: chosen.get(k.value, True) for k in KINDS_FOR_ROLE[user.role]}


async def set_preferences(
    session: AsyncSession,
    user: User,
    *,
    language: str | None,
    by_mail: Mapping[str, bool],
) -> dict[str, bool]:
    """Change the user's language and per-kind mail choices (kinds of their role only)."""
    allowed = {k.value for k in KINDS_FOR_ROLE[user.role]}
    for kind in by_mail:
        if kind not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise field_error(f"mail.{kind}", f"not a notification for this account: {known}")
    if language is not None:
        if language not in LANGUAGES:
            raise field_error("language", f"one of: {', '.join(LANGUAGES)}")
        user.language = language
    for kind, value in by_mail.items():
        await session.execute(
            insert(NotificationPreference)
            .values(user_id=user.id, kind=kind, by_mail=value)
            .on_conflict_do_update(index_elements=["user_id", "kind"], set_={"by_mail": value})
        )
    await session.flush()
    return await preferences_of(session, user)


# -- fan-out ------------------------------------------------------------------------------


async def relay(factory: async_sessionmaker[AsyncSession], *, limit: int = 500) -> list[int]:
    """Turn the next outbox events into mail deliveries; the new deliveries' ids.

    An empty list when there was nothing new or another worker is relaying.
    """
    async with session_scope(factory) as session:
        events = await consume(session, CONSUMER, limit=limit)
        if not events:
            return []
        return await fan_out(session, events, now=utcnow())


async def fan_out(
    session: AsyncSession, events: Sequence[OutboxEvent], *, now: datetime
) -> list[int]:
    """One pending delivery per event and recipient who wants it by mail (flushes)."""
    rows: list[dict[str, Any]] = []
    for event in events:
        kind = EventKind(event.kind)
        if kind not in MAIL_KINDS or (kind in _TODAY_ONLY and not _is_today(event.payload, now)):
            continue
        for user in await _recipients(session, event, kind):
            rows.append(
                {
                    "event_id": event.id,
                    "user_id": user.id,
                    "address": user.email,
                    "language": user.language,
                }
            )
    if not rows:
        return []
    ids = (
        await session.scalars(
            insert(MailDelivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id", "user_id"])
            .returning(MailDelivery.id)
        )
    ).all()
    return list(ids)


async def _recipients(session: AsyncSession, event: OutboxEvent, kind: EventKind) -> Sequence[User]:
    audience = AUDIENCES[kind]
    wants = select(NotificationPreference.by_mail).where(
        NotificationPreference.user_id == User.id, NotificationPreference.kind == kind.value
    )
    conditions: list[Any] = [User.is_active.is_(True), wants.scalar_subquery().is_not(False)]
    if audience is Audience.CLIENT:
        if event.client_id is None:
            return []
        conditions += [
            User.role == Role.CLIENT,
            User.client_id == event.client_id,
            _sees_site_of(event),
        ]
    elif audience is Audience.STAFF:
        conditions.append(User.role == Role.DISPATCHER)
    else:
        if event.engineer_id is None:
            return []
        user_of = select(Engineer.user_id).where(Engineer.id == event.engineer_id)
        conditions.append(User.id == user_of.scalar_subquery())
    # A missing preference row compares as NULL, which "is not false" lets through.
    stmt = select(User).where(and_(*conditions)).order_by(User.email)
    return (await session.scalars(stmt)).all()


def _sees_site_of(event: OutboxEvent) -> ColumnElement[bool]:
    """A client user limited to sites hears only of the orders at them (and of nothing that
    names no order); a user without sites hears of the whole company's."""
    limited = exists(select(ClientUserSite.site_id).where(ClientUserSite.user_id == User.id))
    if event.work_order_id is None:
        return ~limited
    site_of_order = select(WorkOrder.site_id).where(WorkOrder.id == event.work_order_id)
    at_order_site = exists(
        select(ClientUserSite.site_id).where(
            ClientUserSite.user_id == User.id,
            ClientUserSite.site_id == site_of_order.scalar_subquery(),
        )
    )
    return or_(~limited, at_order_site)


def _is_today(payload: Mapping[str, Any], now: datetime) -> bool:
    raw = payload.get("window_starts_at")
    if not raw:
        return False
    zone = ZoneInfo(str(payload.get("timezone") or "UTC"))
    return datetime.fromisoformat(str(raw)).astimezone(zone).date() == now.astimezone(zone).date()


# -- sending ------------------------------------------------------------------------------


class MailNotSent(Exception):
    """The SMTP server refused or could not be reached; the job is retried."""


class SmtpConnection:
    """One SMTP connection for a batch of mails, opened on first use and after a failure."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        if self.client is None:
            s = self.settings
            client = aiosmtplib.SMTP(
                hostname=s.smtp_host,
                port=s.smtp_port,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_s,
                # Our own name in EHLO: asking the resolver for it costs a lookup per mail.
                local_hostname="fieldline",
            )
            await client.connect()
            if s.smtp_username and s.smtp_password:
                await client.login(s.smtp_username, s.smtp_password)
            self.client = client
        try:
            await self.client.send_message(message)
        except ValueError as exc:
            # aiosmtplib refuses an address it cannot put on a command line: a refused
            # recipient for every caller, never an error escaping a background task.
            await self.close()
            raise aiosmtplib.SMTPRecipientRefused(550, str(exc), str(message["To"])) from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def send_deliveries(
    factory: async_sessionmaker[AsyncSession], settings: MailSettings, delivery_ids: Sequence[int]
) -> int:
    """Send pending deliveries over one SMTP connection; how many this call sent.

    Each mail is its own transaction: its row is locked (SKIP LOCKED: one sent already or
    being sent by another worker is left alone), sent, and marked sent at commit.

    Raises:
        MailNotSent: some failed and have attempts left (the job retries the batch; the
            ones sent meanwhile are skipped then).
    """
    connection = SmtpConnection(settings)
    sent, failed = 0, 0
    try:
        for delivery_id in delivery_ids:
            outcome = await _send_one(factory, settings, connection, delivery_id)
            sent += outcome is True
            failed += outcome is None
    finally:
        await connection.close()
    if failed:
        raise MailNotSent(f"{failed} of {len(delivery_ids)} mails failed; retrying")
    return sent


async def _send_one(
    factory: async_sessionmaker[AsyncSession],
    settings: MailSettings,
    connection: SmtpConnection,
    delivery_id: int,
) -> bool | None:
    """True when sent, False when not ours to send (or given up), None when it will retry."""
    async with session_scope(factory) as session:
        delivery = (
            await session.scalars(
                select(MailDelivery)
                .where(MailDelivery.id == delivery_id)
                .where(MailDelivery.status == DeliveryStatus.PENDING)
                .with_for_update(skip_locked=True)
            )
        ).one_or_none()
        if delivery is None:
            return False
        event = await session.get(OutboxEvent, delivery.event_id)
        assert event is not None  # deliveries go with their event
        message = await _message(session, settings, delivery, event)
        delivery.attempts += 1
        try:
            await connection.send(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if delivery.attempts >= settings.max_attempts:
                delivery.status = DeliveryStatus.FAILED
                log.warning("mail %s to %s given up: %s", delivery.id, delivery.address, exc)
                return False
            return None  # the attempt is counted at commit; the job retries
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = utcnow()
        delivery.last_error = None
        return True


async def pending_deliveries(
    session: AsyncSession, *, created_before: datetime, limit: int = 1000
) -> Sequence[int]:
    """Deliveries still waiting since before `created_before` (their job may be lost)."""
    stmt = (
        select(MailDelivery.id)
        .where(
            MailDelivery.status == DeliveryStatus.PENDING,
            MailDelivery.created_at < created_before,
        )
        .order_by(MailDelivery.created_at)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def _message(
    session: AsyncSession, settings: MailSettings, delivery: MailDelivery, event: OutboxEvent
) -> EmailMessage:
    kind = EventKind(event.kind)
    audience = AUDIENCES[kind]
    links: dict[str, str] = {}
    base = settings.public_url
    if event.visit_id is not None:
        links["report_url"] = f"{base}/mobile/v1/client/visits/{event.visit_id}/report"
    if event.work_order_id is not None:
        links["rating_url"] = f"{base}/mobile/v1/client/requests/{event.work_order_id}/rating"
    names: dict[str, str] = {}
    if audience is Audience.STAFF and event.engineer_id is not None:
        engineer = await session.get(Engineer, event.engineer_id)
        if engineer is not None:
            names["engineer"] = engineer.user.full_name
    mail = render(
        kind,
        audience,
        delivery.language,
        event.payload,
        event.staff,
        links=links,
        names=names,
    )
    return mail_message(
        settings,
        mail,
        to=delivery.address,
        language=delivery.language,
        event=kind.value,
        id_left=f"fieldline-delivery-{delivery.id}",
    )


def mail_message(
    settings: MailSettings, mail: Mail, *, to: str, language: str, event: str, id_left: str
) -> EmailMessage:
    """`mail` addressed from our sender to `to`: the one shape of every mail we send."""
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.from_address)[1].partition("@")[2] or "fieldline.local"
    message["Message-ID"] = f"<{id_left}@{domain}>"
    # Machines, not people, write these: auto-responders must not answer them.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Fieldline-Event"] = event
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    # After the content: setting it replaces every Content-* header.
    message["Content-Language"] = language
    return message
