"""Signing in and out: passwords, sessions, token rotation and the brake on guessing."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.models import AuthSession, LoginThrottle
from fsm.auth.principal import Principal
from fsm.auth.tokens import (
    InvalidToken,
    format_refresh_token,
    hash_refresh_secret,
    issue_access_token,
    new_refresh_secret,
    parse_refresh_token,
    read_access_token,
    secrets_match,
)
from fsm.db import utcnow
from fsm.errors import Forbidden, TooManyRequests, Unauthorized, field_error
from fsm.settings import AuthSettings
from fsm.users.models import ClientUserSite, Role, User
from fsm.users.passwords import hash_password, verify_password
from fsm.users.service import UserService


class InvalidCredentials(Unauthorized):
    """Unknown email or wrong password; deliberately the same answer for both."""


class WrongPassword(Forbidden):
    """The current password given to change it is wrong."""


class TooManyLoginAttempts(TooManyRequests):
    """This email failed too often from this address lately; wait and try again."""

    code = "too_many_requests"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a successful sign-in or refresh hands the app."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime
    access_ttl_s: int
    refresh_expires_at: datetime
    user: User
    # The sites the user is limited to (client users only; empty: the whole company).
    site_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class _Count:
    failures: int
    last_failure_at: datetime


class LoginThrottleService:
    """Slows down guessing without letting one person's failures lock out another.

    Failures count per email at an address: a few are free, then each try waits twice as
    long as the one before, up to a cap (NIST SP 800-63B, 5.2.2). Nothing is counted per
    email alone, so guessing from elsewhere cannot lock the owner out, and nothing refuses
    an address as a whole, so one guesser behind an office's NAT cannot lock out the office.
    An address with many failures, all emails together, loses the free tries instead: an
    email failing there waits from its first failure, while a colleague's right password
    goes through.
    """

    def __init__(self, session: AsyncSession, settings: AuthSettings) -> None:
        self.session = session
        self.window = timedelta(minutes=settings.login_window_minutes)
        self.free_failures = settings.login_max_failures
        self.base_s = settings.login_backoff_base_s
        self.max_s = settings.login_backoff_max_s
        self.address_max_failures = settings.login_address_max_failures

    @staticmethod
    def pair_key(email: str, address: str | None) -> str:
        """The key of one email at one address (emails compared case-blind)."""
        return f"pair:{email.strip().lower()}|{address or ''}"

    @staticmethod
    def address_key(address: str) -> str:
        return f"addr:{address}"

    def wait_s(self, failures: int, free_failures: int) -> int:
        """How long after the last failure the next try must wait."""
        if failures == 0 or failures < free_failures:
            return 0
        doublings = min(failures - free_failures, 30)
        return min(self.max_s, self.base_s << doublings)

    async def check(self, email: str, address: str | None, now: datetime) -> None:
        """Refuse a try made before this email's wait at this address has passed.

        Raises:
            TooManyLoginAttempts: with the seconds left to wait.
        """
        counts = await self._counts(email, address, now)
        pair = counts.get(self.pair_key(email, address))
        if pair is None:
            return
        wait = timedelta(seconds=self.wait_s(pair.failures, self._free(counts, address)))
        ready_at = pair.last_failure_at + wait
        if ready_at > now:
            retry_after = max(1, math.ceil((ready_at - now).total_seconds()))
            raise TooManyLoginAttempts(
                "too many failed sign-ins; try again later",
                retry_after_s=retry_after,
                details={"retry_after_s": retry_after},
            )

    async def record_failure(self, email: str, address: str | None, now: datetime) -> None:
        """Count one failure for the email at the address, and for the address."""
        counts = await self._counts(email, address, now, for_update=True)
        keys = [self.pair_key(email, address)]
        if address:
            keys.append(self.address_key(address))
        for key in keys:
            old = counts.get(key)
            stmt = insert(LoginThrottle).values(key=key, failures=1, last_failure_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={"failures": (old.failures if old else 0) + 1, "last_failure_at": now},
            )
            await self.session.execute(stmt)

    async def clear(self, email: str, address: str | None) -> None:
        """A successful sign-in forgives the email's earlier failures at this address."""
        await self.session.execute(
            delete(LoginThrottle).where(LoginThrottle.key == self.pair_key(email, address))
        )

    def _free(self, counts: dict[str, _Count], address: str | None) -> int:
        at_address = counts.get(self.address_key(address)) if address else None
        if at_address is not None and at_address.failures >= self.address_max_failures:
            return 0
        return self.free_failures

    async def _counts(
        self, email: str, address: str | None, now: datetime, *, for_update: bool = False
    ) -> dict[str, _Count]:
        """The live counts of the email at the address and of the address, stale ones left out.

        A failure is forgotten a window after the wait it caused has passed.
        """
        keys = [self.pair_key(email, address)]
        if address:
            keys.append(self.address_key(address))
        stmt = select(LoginThrottle).where(LoginThrottle.key.in_(keys))
        if for_update:
            stmt = stmt.with_for_update()
        rows = {row.key: row for row in (await self.session.scalars(stmt)).all()}
        counts: dict[str, _Count] = {}
        at_address = rows.get(self.address_key(address)) if address else None
        if at_address is not None and at_address.last_failure_at + self.window > now:
            counts[at_address.key] = _Count(at_address.failures, at_address.last_failure_at)
        pair = rows.get(keys[0])
        if pair is not None:
            wait = timedelta(seconds=self.wait_s(pair.failures, self._free(counts, address)))
            if pair.last_failure_at + wait + self.window > now:
                counts[pair.key] = _Count(pair.failures, pair.last_failure_at)
        return counts


class AuthService:
    """Sign-in, refresh, sign-out and resolving a bearer token to a principal."""

    def __init__(self, session: AsyncSession, settings: AuthSettings) -> None:
        self.session = session
        self.settings = settings
        self.throttle = LoginThrottleService(session, settings)

    async def login(
        self,
        email: str,
        password: str,
        *,
        address: str | None = None,
        user_agent: str | None = None,
    ) -> TokenPair:
        """Check the password and open a session.

        Raises:
            TooManyLoginAttempts: the email failed too often from this address lately.
            InvalidCredentials: unknown email, wrong password or deactivated user.
        """
        now = utcnow()
        await self.throttle.check(email, address, now)
        user = await UserService(self.session).find_by_email(email)
        is_valid = verify_password(user.password_hash if user else None, password)
        if user is None or not is_valid or not user.is_active:
            await self.throttle.record_failure(email, address, now)
            await self.session.commit()  # the count must outlive the 401
            raise InvalidCredentials("wrong email or password")
        await self.throttle.clear(email, address)
        secret = new_refresh_secret()
        auth_session = AuthSession(
            id=uuid.uuid4(),
            user_id=user.id,
            refresh_token_hash=hash_refresh_secret(secret),
            expires_at=now + timedelta(days=self.settings.refresh_token_days),
            user_agent=(user_agent or "")[:300] or None,
        )
        self.session.add(auth_session)
        await self.session.flush()
        return await self._pair(user, auth_session, secret, now)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate the refresh token and issue a new access token.

        Raises:
            InvalidToken: unknown, expired, revoked or reused token; a reused one revokes
                the whole session, since someone else holds a copy.
        """
        now = utcnow()
        session_id, secret = parse_refresh_token(refresh_token)
        auth_session = await self.session.get(AuthSession, session_id, with_for_update=True)
        if auth_session is None or auth_session.revoked_at is not None:
            raise InvalidToken("the refresh token is not valid")
        if auth_session.expires_at <= now:
            raise InvalidToken("the refresh token has expired")
        if not secrets_match(auth_session.refresh_token_hash, secret):
            previous = auth_session.previous_refresh_token_hash
            if previous is not None and secrets_match(previous, secret):
                auth_session.revoked_at = now
                await self.session.commit()  # the revocation must outlive the 401
                raise InvalidToken("the refresh token was already used; sign in again")
            raise InvalidToken("the refresh token is not valid")
        user = await self.session.get(User, auth_session.user_id)
        if user is None or not user.is_active:
            raise InvalidToken("the refresh token is not valid")
        new_secret = new_refresh_secret()
        auth_session.previous_refresh_token_hash = auth_session.refresh_token_hash
        auth_session.refresh_token_hash = hash_refresh_secret(new_secret)
        auth_session.refreshed_at = now
        await self.session.flush()
        return await self._pair(user, auth_session, new_secret, now)

    async def logout(self, principal: Principal) -> None:
        """End the caller's session: its refresh and access tokens stop working now."""
        auth_session = await self.session.get(AuthSession, principal.session_id)
        if auth_session is not None and auth_session.revoked_at is None:
            auth_session.revoked_at = utcnow()
            await self.session.flush()

    async def change_password(
        self, principal: Principal, current_password: str, new_password: str
    ) -> None:
        """Set a new password after checking the current one; every other session of the
        user ends (a stolen session does not outlive the change), this one goes on."""
        user = await self.session.get(User, principal.user_id)
        if user is None or not verify_password(user.password_hash, current_password):
            raise WrongPassword(
                "the current password is wrong", details={"field": "current_password"}
            )
        if new_password == current_password:
            raise field_error("new_password", "must differ from the current password")
        user.password_hash = hash_password(new_password)
        await self.session.execute(
            update(AuthSession)
            .where(
                AuthSession.user_id == user.id,
                AuthSession.id != principal.session_id,
                AuthSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        await self.session.flush()

    async def authenticate(self, access_token: str) -> Principal:
        """The principal behind a bearer token, checked against its live session.

        Raises:
            InvalidToken: bad or expired token, revoked session, deactivated user.
        """
        claims = read_access_token(access_token, secret=self.settings.jwt_secret)
        principal = await live_principal(self.session, claims.session_id, claims.user_id)
        if principal is None:
            raise InvalidToken("the session has ended; sign in again")
        return principal

    async def _pair(
        self, user: User, auth_session: AuthSession, secret: str, now: datetime
    ) -> TokenPair:
        sites = (
            (await UserService(self.session).site_ids_of([user.id])).get(user.id, [])
            if user.role is Role.CLIENT
            else []
        )
        ttl = timedelta(minutes=self.settings.access_token_minutes)
        return TokenPair(
            access_token=issue_access_token(
                user_id=user.id,
                session_id=auth_session.id,
                secret=self.settings.jwt_secret,
                now=now,
                ttl=ttl,
            ),
            refresh_token=format_refresh_token(auth_session.id, secret),
            access_expires_at=now + ttl,
            access_ttl_s=int(ttl.total_seconds()),
            refresh_expires_at=auth_session.expires_at,
            user=user,
            site_ids=tuple(sites),
        )


async def live_principal(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> Principal | None:
    """The caller of a live session as it stands now (None once the session was revoked or
    the user deactivated): every request's authentication, and a long-lived stream's check
    between batches, so what a user may see follows their account wherever they are."""
    # A client user's sites ride in the same statement (NULL when there are none), read
    # afresh every time, so a change counts from the user's next request. Staff and
    # engineers skip even the index probe: the CASE does not evaluate it for them.
    sites = case(
        (
            User.role == Role.CLIENT,
            select(func.array_agg(ClientUserSite.site_id))
            .where(ClientUserSite.user_id == User.id)
            .scalar_subquery(),
        ),
        else_=None,
    ).label("site_ids")
    # Plain columns, not the user entity: this runs on every request.
    stmt = (
        select(
            User.id,
            User.role,
            User.client_id,
            User.email,
            User.full_name,
            User.is_client_admin,
            sites,
        )
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            AuthSession.id == session_id,
            User.id == user_id,
            AuthSession.revoked_at.is_(None),
            User.is_active.is_(True),
        )
    )
    user = (await session.execute(stmt)).one_or_none()
    if user is None:
        return None
    return Principal(
        user_id=user.id,
        session_id=session_id,
        role=user.role,
        client_id=user.client_id,
        email=user.email,
        full_name=user.full_name,
        is_client_admin=user.is_client_admin,
        site_ids=frozenset(user.site_ids) if user.site_ids else None,
    )
