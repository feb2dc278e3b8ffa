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
import uuid
from dataclasses import dataclass
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
from fsm.notifications.service import SmtpConnection, mail_message
from fsm.notifications.templates import LANGUAGES, Mail, compose
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
    address = account_link(base_url, link)
    href = html.escape(address, quote=True)
    return compose(
        language,
        subject,
        lines,
        {
            "name": link.full_name,
            "link": address,
            "code": link.token,
            "valid": _VALID[language][link.purpose],
        },
        html_values={"link": f'<a href="{href}">{href}</a>'},
    )


@dataclass(frozen=True)
class SmtpAccountMail:
    """`fsm.auth.one_time.AccountMail` over the product's SMTP settings."""

    settings: MailSettings

    async def __call__(self, link: IssuedLink) -> None:
        message = mail_message(
            self.settings,
            render_account_mail(link, self.settings.public_url),
            to=link.email,
            language=link.language,
            event=link.purpose,
            id_left=f"fieldline-account-{uuid.uuid4().hex}",
        )
        connection = SmtpConnection(self.settings)
        try:
            await connection.send(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Never the token, never the link: the fact and the reason only.
            log.warning("%s mail to %s not sent: %s", link.purpose, link.email, exc)
        finally:
            await connection.close()
