"""A local SMTP sink (aiosmtpd) for the demo and the tests: it keeps every message it gets.

`fsm dev` starts one on FSM_SMTP_PORT (8025) writing each message as an `.eml` file into
`.data/mail/`; tests read the messages from memory. It accepts any sender and recipient
and relays nothing.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["MailSink", "Received"]


@dataclass(frozen=True)
class Received:
    """One message as the sink got it."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

    def body(self, subtype: str) -> str:
        """The text of the `plain` or `html` part."""
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        content = part.get_content()
        assert isinstance(content, str)
        return content


@dataclass
class MailSink:
    """An SMTP server keeping messages in `received` (and as files in `directory`)."""

    host: str = "127.0.0.1"
    port: int = 8025
    directory: Path | None = None
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=tuple(envelope.rcpt_tos),
                message=message,
            )
        )
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{len(self.received):06d}-{next(self._counter)}.eml"
            (self.directory / name).write_bytes(raw)
        self.arrived.set()
        return "250 Message accepted for delivery"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="fieldline-sink", decode_data=False),
            host=self.host,
            port=self.port,
        )
        sockets: Any = self._server.sockets
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, *, timeout_s: float = 30.0) -> list[Received]:
        """The first `count` messages, waiting for them to arrive (at most `timeout_s`)."""
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[:count]

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.serve_forever()
