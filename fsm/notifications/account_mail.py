"""Account mail: the password-reset and invitation links, in the user's language.

A link opens an account, so it is kept nowhere but in the mail: it is sent straight over
SMTP once the request that made it has committed (a background task of the response), never
through the outbox (whose events also feed streams and webhooks) or the job queue (whose
arguments are stored). One attempt: if the server refuses, the warning says so and the person
asks for a reset link (an invited person too: a reset sets a first password as well).
"""

# ruff: noqa: RUF001 - the Russian texts are Cyrillic

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import urlencode

import aiosmtplib

from fsm.auth.one_time import (
    INVITATION,
    INVITATION_DAYS,
    RESET,
    RESET_TOKEN_MINUTES,
    IssuedLink,
    Purpose,
)
from fsm.notifications.service import SmtpConnection
from fsm.notifications.templates import LANGUAGES, Mail
from fsm.settings import MailSettings

__all__ = ["SmtpAccountMail", "account_link", "render_account_mail"]

log = logging.getLogger(__name__)

# Where the apps open the link; the token is also given as a code to type in the app.
_PATHS: dict[Purpose, str] = {RESET: "/account/reset-password", INVITATION: "/account/invitation"}

# (subject, lines); $name, $link, $code and $valid are filled in.
_TEXTS: dict[str, dict[Purpose, tuple[str, tuple[str, ...]]]] = {
    "en": {
        RESET: (
            "Reset your fieldline password",
            (
                "Hello $name,",
                "someone (we hope you) asked to reset your password. Open this link to set a"
                " new one:",
                "$link",
                "Or enter this code in the app: $code",
                "The link works once, for $valid. If you did not ask, ignore this mail:"
                " your password stays as it is.",
            ),
        ),
        INVITATION: (
            "You are invited to fieldline",
            (
                "Hello $name,",
                "an account was opened for you. Open this link to choose your password:",
                "$link",
                "Or enter this code in the app: $code",
                "The link works once, for $valid.",
            ),
        ),
    },
    "ru": {
        RESET: (
            "Сброс пароля fieldline",
            (
                "Здравствуйте, $name!",
                "Кто-то (надеемся, вы) попросил сбросить ваш пароль. Откройте ссылку, чтобы"
                " задать новый:",
                "$link",
                "Или введите этот код в приложении: $code",
                "Ссылка действует один раз, $valid. Если вы не просили, не обращайте"
                " внимания на это письмо: пароль не изменится.",
            ),
        ),
        INVITATION: (
            "Приглашение в fieldline",
            (
                "Здравствуйте, $name!",
                "Для вас создана учётная запись. Откройте ссылку, чтобы выбрать пароль:",
                "$link",
                "Или введите этот код в приложении: $code",
                "Ссылка действует один раз, $valid.",
            ),
        ),
    },
}
_VALID: dict[str, dict[Purpose, str]] = {
    "en": {RESET: f"{RESET_TOKEN_MINUTES} minutes", INVITATION: f"{INVITATION_DAYS} days"},
    "ru": {RESET: f"в течение {RESET_TOKEN_MINUTES} минут", INVITATION: f"{INVITATION_DAYS} дней"},
}


def account_link(base_url: str, link: IssuedLink) -> str:
    """The address the mail links to: the app's page for this purpose, with the token."""
    return f"{base_url.rstrip('/')}{_PATHS[link.purpose]}?{urlencode({'token': link.token})}"


def render_account_mail(link: IssuedLink, base_url: str) -> Mail:
    """The mail of `link` in the user's language (English when theirs has no text)."""
    language = link.language if link.language in LANGUAGES else "en"
    subject, lines = _TEXTS[language][link.purpose]
    values = {
        "name": link.full_name,
        "link": account_link(base_url, link),
        "code": link.token,
        "valid": _VALID[language][link.purpose],
    }

    def fill(line: str, escape: bool) -> str:
        for key, value in values.items():
            line = line.replace("$" + key, html.escape(value) if escape else value)
        return line

    text = "\n\n".join(fill(line, escape=False) for line in lines) + "\n"
    href = html.escape(values["link"], quote=True)
    body = "".join(
        f'<p><a href="{href}">{href}</a></p>' if line == "$link" else f"<p>{fill(line, True)}</p>"
        for line in lines
    )
    return Mail(subject=subject, text=text, html=f"<html><body>{body}</body></html>")


@dataclass(frozen=True)
class SmtpAccountMail:
    """`fsm.auth.one_time.AccountMail` over the product's SMTP settings."""

    settings: MailSettings

    async def __call__(self, link: IssuedLink) -> None:
        mail = render_account_mail(link, self.settings.public_url)
        message = EmailMessage()
        message["From"] = self.settings.from_address
        message["To"] = link.email
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.settings.from_address)[1].partition("@")[2] or "fieldline.local"
        message["Message-ID"] = make_msgid("fieldline-account", domain=domain)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Fieldline-Event"] = link.purpose
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        message["Content-Language"] = link.language
        connection = SmtpConnection(self.settings)
        try:
            await connection.send(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Never the token, never the link: the fact and the reason only.
            log.warning("%s mail to %s not sent: %s", link.purpose, link.email, exc)
        finally:
            await connection.close()
