"""Reading an inbound message: who sent it, what it asks, its images, whether a machine wrote it.

Rules, stated once:
- a message is automatic (and ignored) when it says so (`Auto-Submitted` other than `no`,
  `Precedence: bulk|junk|list|auto_reply`, `X-Autoreply`/`X-Autorespond`, an empty envelope
  sender as bounces have), when its Message-ID is one of ours (our own mail came back), or
  when it comes from the support address itself (a loop through a forwarder);
- the sender is the `From` address, lower-cased; without one the envelope sender;
- a work order number (`WO-2026-000123`) anywhere in the subject makes it a reply to that order;
- the text is the plain part (else the HTML part without its tags), without the quoted reply
  (lines starting with `>` and everything from an "On ... wrote:" line on);
- images are the parts of type JPEG/PNG/HEIC/HEIF; other attachments are ignored;
- a message without a Message-ID gets one from the SHA-256 of its bytes, so a resend of the
  same bytes is still recognised.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

from fsm.photos.objects import CONTENT_TYPES

__all__ = ["Attachment", "ParsedMail", "automatic_reason", "parse", "work_order_number"]

MAX_BODY_CHARS = 20_000
MAX_SUBJECT_CHARS = 500
_NUMBER = re.compile(r"\bWO-(\d{4})-(\d{6})\b", re.IGNORECASE)
_AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
# Where a mail program starts quoting the message replied to (English and Russian clients).
_QUOTE_START = re.compile(
    r"^(On .{1,300} wrote:|.{0,300}(писал|написал)\(?\w?\)?:|-{2,} ?Original Message ?-{2,})\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image found in a message."""

    content_type: str
    data: bytes
    filename: str | None


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """What the mail-in endpoint needs of a message."""

    message_id: str
    sender: str
    subject: str
    body: str
    images: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def parse(raw: bytes, *, envelope_from: str | None = None) -> ParsedMail:
    """The parts of a message that matter here."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage objects
    message_id = _header(message, "Message-ID").strip()
    if not message_id:
        message_id = f"<{hashlib.sha256(raw).hexdigest()}@mail-in.invalid>"
    senders = [addr for _, addr in getaddresses([_header(message, "From")]) if "@" in addr]
    sender = (senders[0] if senders else (envelope_from or "")).strip().lower()
    watched = ("Auto-Submitted", "Precedence", "X-Autoreply", "X-Autorespond")
    return ParsedMail(
        message_id=message_id[:998],
        sender=sender[:320],
        subject=" ".join(_header(message, "Subject").split())[:MAX_SUBJECT_CHARS],
        body=_body(message),
        images=list(_images(message)),
        headers={name: _header(message, name) for name in watched if name in message},
    )


def automatic_reason(
    mail: ParsedMail, *, envelope_from: str | None, own_domain: str, own_address: str
) -> str | None:
    """Why a machine wrote this message (so it must not open work), or None for a person."""
    auto_submitted = mail.headers.get("Auto-Submitted", "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return "auto_submitted"
    if mail.headers.get("Precedence", "").strip().lower() in _AUTOMATIC_PRECEDENCE:
        return "precedence"
    if "X-Autoreply" in mail.headers or "X-Autorespond" in mail.headers:
        return "autoreply"
    if envelope_from is not None and envelope_from.strip("<> ") == "":
        return "bounce"
    if mail.message_id.rstrip(">").lower().endswith("@" + own_domain):
        return "own_message"
    if mail.sender == own_address:
        return "own_address"
    return None


def work_order_number(subject: str) -> str | None:
    """The work order number the subject names, in its canonical spelling."""
    found = _NUMBER.search(subject)
    return f"WO-{found.group(1)}-{found.group(2)}" if found else None


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        return ""
    return str(value) if value is not None else ""


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        content = _text_of_html(content)
    return _without_quote(content)[:MAX_BODY_CHARS]


def _without_quote(text: str) -> str:
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_START.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _images(message: EmailMessage) -> list[Attachment]:
    found: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_type() not in CONTENT_TYPES:
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            found.append(Attachment(part.get_content_type(), data, part.get_filename()))
    return found


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _text_of_html(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    return "".join(parser.chunks)
