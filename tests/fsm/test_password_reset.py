"""One-time links: password reset (expiring, single use, silent about unknown emails) and
invitations, each mailed over real SMTP (the suite's sink) in the user's language."""

# ruff: noqa: RUF001 - the Russian subject is Cyrillic

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fsm.auth.one_time import RESET_TOKEN_MINUTES, OneTimeToken, OneTimeTokens
from fsm.db import utcnow
from fsm.main.app import create_app
from fsm.main.localinfra import free_port
from fsm.main.mailsink import MailSink, Received
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.users.models import Role, User
from tests.auth_helpers import login
from tests.factories import make_user
from tests.fsm.helpers import error_of, signed_in

ASK = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
ACCEPT = "/api/v1/auth/invitations/accept"
NEW = "a-brand-new-password"
TOKEN = re.compile(r"token=([A-Za-z0-9_-]+)")


async def mails_to(sink: MailSink, address: str, count: int = 1) -> list[Received]:
    """The mails the sink got for `address`, once `count` of them are there (at most 10 s)."""
    async with asyncio.timeout(10):
        while len(mine := [m for m in sink.received if address in m.recipients]) < count:
            sink.arrived.clear()
            await sink.arrived.wait()
    return mine


def token_in(mail: Received) -> str:
    found = TOKEN.search(mail.body("plain"))
    assert found, mail.body("plain")
    return found.group(1)


class TestPasswordReset:
    async def test_unknown_and_known_emails_get_the_same_answer_only_the_known_a_mail(
        self, client: httpx.AsyncClient, session: AsyncSession, mail_sink: MailSink
    ) -> None:
        user = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        known = await client.post(ASK, json={"email": user.email.upper()})
        unknown = await client.post(ASK, json={"email": "nobody@nowhere.example"})
        assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
        assert known.status_code == 202
        (mail,) = await mails_to(mail_sink, user.email)
        assert mail.message["Subject"] == "Reset your fieldline password"
        assert "60 minutes" in mail.body("plain")
        assert not [m for m in mail_sink.received if "nobody@nowhere.example" in m.recipients]

    async def test_the_mailed_link_works_once_and_ends_every_session(
        self, client: httpx.AsyncClient, session: AsyncSession, mail_sink: MailSink
    ) -> None:
        user = await make_user(session, role=Role.ENGINEER)
        await session.commit()
        signed_in = await login(client, user)
        assert (await client.post(ASK, json={"email": user.email})).status_code == 202
        (mail,) = await mails_to(mail_sink, user.email)
        token = token_in(mail)
        assert f"/account/reset-password?token={token}" in mail.body("html")
        # The link is in the mail only: the database keeps its hash, the queue nothing.
        stored = (await session.scalars(select(OneTimeToken.token_hash))).all()
        assert token not in stored
        queued = await session.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE args::text LIKE :t"),
            {"t": f"%{token}%"},
        )
        assert queued == 0

        used = await client.post(CONFIRM, json={"token": token, "new_password": NEW})
        assert used.status_code == 204, used.text
        assert (await client.get("/api/v1/auth/me", headers=signed_in)).status_code == 401
        again = await client.post(CONFIRM, json={"token": token, "new_password": NEW + "2"})
        assert error_of(again, 422)["code"] == "token_invalid"
        login_new = await client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": NEW}
        )
        assert login_new.status_code == 200

    async def test_expired_and_superseded_tokens_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        user = await make_user(session, role=Role.ADMIN)
        tokens = OneTimeTokens(session)
        long_ago = utcnow() - timedelta(minutes=RESET_TOKEN_MINUTES + 1)
        expired = await tokens.issue_password_reset(user.email, now=long_ago)
        assert expired is not None
        await session.commit()
        refused = await client.post(CONFIRM, json={"token": expired.token, "new_password": NEW})
        assert error_of(refused, 422)["code"] == "token_invalid"
        first = await tokens.issue_password_reset(user.email)
        second = await tokens.issue_password_reset(user.email)
        await session.commit()
        assert first is not None
        assert second is not None
        stale = await client.post(CONFIRM, json={"token": first.token, "new_password": NEW})
        assert error_of(stale, 422)["code"] == "token_invalid"
        fresh = await client.post(CONFIRM, json={"token": second.token, "new_password": NEW})
        assert fresh.status_code == 204

    async def test_a_russian_speaker_gets_the_link_in_russian(
        self, client: httpx.AsyncClient, session: AsyncSession, mail_sink: MailSink
    ) -> None:
        user = await make_user(session, role=Role.CLIENT, language="ru")
        await session.commit()
        await client.post(ASK, json={"email": user.email})
        (mail,) = await mails_to(mail_sink, user.email)
        assert mail.message["Subject"] == "Сброс пароля fieldline"
        assert mail.message["Content-Language"] == "ru"
        token = token_in(mail)
        done = await client.post(CONFIRM, json={"token": token, "new_password": NEW})
        assert done.status_code == 204, done.text

    async def test_a_refused_mail_still_answers_202_and_logs_no_link(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        object_store: ObjectStore,
        session: AsyncSession,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        user = await make_user(session, role=Role.DISPATCHER)
        await session.commit()
        # Nothing listens on this port: the SMTP connection is refused.
        refused = dataclasses.replace(settings.mail, smtp_port=free_port())
        down = dataclasses.replace(settings, mail=refused)
        app = create_app(down, session_factory=session_factory, object_store=object_store)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        # Building an app configures logging afresh (Litestar's root handlers), so the
        # capture listens on the mailer's own logger.
        mailer_log = logging.getLogger("fsm.notifications.account_mail")
        mailer_log.addHandler(caplog.handler)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
                asked = await h.post(ASK, json={"email": user.email})
        finally:
            mailer_log.removeHandler(caplog.handler)
        assert asked.status_code == 202
        (warning,) = [r for r in caplog.records if r.name == "fsm.notifications.account_mail"]
        assert user.email in warning.getMessage()
        assert "token" not in warning.getMessage()
        # The link was made and stays valid; a new ask replaces it.
        assert (
            await session.scalar(
                select(func.count())
                .select_from(OneTimeToken)
                .where(OneTimeToken.user_id == user.id)
            )
            == 1
        )


class TestInvitations:
    async def test_invited_user_sets_a_first_password_once_from_the_mail(
        self, client: httpx.AsyncClient, session: AsyncSession, mail_sink: MailSink
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        invited = await client.post(
            "/api/v1/users/invitations",
            json={"email": "new.boss@x.example", "full_name": "New Boss", "role": "dispatcher"},
            headers=admin,
        )
        assert invited.status_code == 201, invited.text
        user = await session.get(User, uuid.UUID(invited.json()["id"]))
        assert user is not None
        (mail,) = await mails_to(mail_sink, "new.boss@x.example")
        assert mail.message["Subject"] == "You are invited to fieldline"
        assert "New Boss" in mail.body("plain")
        assert "7 days" in mail.body("plain")
        token = token_in(mail)
        accepted = await client.post(ACCEPT, json={"token": token, "password": NEW})
        assert accepted.status_code == 204, accepted.text
        again = await client.post(ACCEPT, json={"token": token, "password": NEW})
        assert error_of(again, 422)["code"] == "token_invalid"
        signed = await client.post(
            "/api/v1/auth/login", json={"email": "new.boss@x.example", "password": NEW}
        )
        assert signed.status_code == 200
        # A reset token is no invitation, and only admins invite.
        reset = await OneTimeTokens(session).issue_password_reset("new.boss@x.example")
        await session.commit()
        assert reset is not None
        wrong_kind = await client.post(ACCEPT, json={"token": reset.token, "password": NEW})
        assert error_of(wrong_kind, 422)["code"] == "token_invalid"
        _, dispatcher = await signed_in(client, session, Role.DISPATCHER)
        refused = await client.post(
            "/api/v1/users/invitations",
            json={"email": "x@x.example", "full_name": "X", "role": "admin"},
            headers=dispatcher,
        )
        assert error_of(refused, 403)["code"] == "forbidden"

    @pytest.mark.parametrize("email", ["a<>@x.example", "a,b@x.example", '"q"@x.example'])
    async def test_an_address_no_mail_server_takes_is_422_and_nobody_is_made(
        self, client: httpx.AsyncClient, session: AsyncSession, email: str
    ) -> None:
        _, admin = await signed_in(client, session, Role.ADMIN)
        before = await session.scalar(select(func.count()).select_from(User))

        refused = await client.post(
            "/api/v1/users/invitations",
            json={"email": email, "full_name": "Odd", "role": "dispatcher"},
            headers=admin,
        )

        assert error_of(refused, 422)["code"] == "validation_error"
        assert "email" in refused.text
        assert await session.scalar(select(func.count()).select_from(User)) == before
