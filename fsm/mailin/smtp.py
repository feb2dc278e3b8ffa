"""The inbound SMTP endpoint on aiosmtpd: mail to the support address is handed to `deliver`.

Only the support address is accepted at RCPT (550 for any other), so this is no open relay.
A message is answered 250 once `deliver` has committed what it became; any failure there
answers 451, so the sending server retries later, and the unique Message-ID makes the retry
change nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from fsm.mailin.service import Receipt
from fsm.settings import MailInSettings

log = logging.getLogger("fsm.mailin")

Deliver = Callable[[bytes, str | None], Awaitable[Receipt]]


class MailInHandler:
    """aiosmtpd's handler: recipients checked at RCPT, the message delivered at DATA."""

    def __init__(self, deliver: Deliver, settings: MailInSettings) -> None:
        self.deliver = deliver
        self.settings = settings

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.strip().lower() != self.settings.address:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 Unreadable message"
        try:
            receipt = await self.deliver(raw, envelope.mail_from)
        except Exception:
            log.exception("mail-in: could not take a message from %s", envelope.mail_from)
            return "451 4.3.0 Try again later"
        log.info(
            "mail-in: %s from %s (%s)", receipt.outcome, envelope.mail_from, receipt.reason or "-"
        )
        return "250 OK"


async def start_server(deliver: Deliver, settings: MailInSettings) -> asyncio.Server:
    """Listen for SMTP on the settings' host and port, on the running event loop."""
    loop = asyncio.get_running_loop()
    handler = MailInHandler(deliver, settings)

    def protocol() -> Any:
        return SMTP(
            handler,
            data_size_limit=settings.max_bytes,
            hostname=settings.address.rpartition("@")[2] or None,
            enable_SMTPUTF8=True,
            loop=loop,
        )

    return await loop.create_server(protocol, host=settings.host, port=settings.port)
