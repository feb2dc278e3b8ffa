"""Sign-in endpoints: login, refresh, logout and who-am-I."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.addresses import client_address
from fsm.auth.guards import requires_signed_in
from fsm.auth.one_time import AccountMail, OneTimeTokens
from fsm.auth.principal import Principal
from fsm.auth.schemas import (
    InvitationAccept,
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    ResetConfirm,
    ResetRequest,
    TokenResponse,
    token_response,
)
from fsm.auth.service import AuthService
from fsm.users.schemas import UserRead, user_read
from fsm.users.service import UserService


async def provide_auth_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> AuthService:
    return AuthService(db_session, state.settings.auth)


class AuthController(Controller):
    """Tokens for the apps and the back office."""

    path = "/api/v1/auth"
    tags = ["auth"]
    dependencies = {"auth": Provide(provide_auth_service)}

    @post("/login", operation_id="Login", status_code=200, security=[])
    async def login(
        self,
        auth: NamedDependency[AuthService],
        data: JSONBody[LoginRequest],
        request: Request[Any, Any, Any],
    ) -> TokenResponse:
        """Exchange email and password for an access and a refresh token."""
        pair = await auth.login(
            data.email,
            data.password,
            address=client_address(
                request.client.host if request.client else None,
                request.headers.getall("x-forwarded-for", []),
                trusted=request.app.state.settings.auth.trusted_proxies,
            ),
            user_agent=request.headers.get("user-agent"),
        )
        return token_response(pair)

    @post("/refresh", operation_id="RefreshTokens", status_code=200, security=[])
    async def refresh(
        self, auth: NamedDependency[AuthService], data: JSONBody[RefreshRequest]
    ) -> TokenResponse:
        """Rotate the refresh token and get a new access token."""
        return token_response(await auth.refresh(data.refresh_token))

    @post("/logout", operation_id="Logout", status_code=204, guards=[requires_signed_in])
    async def logout(
        self, auth: NamedDependency[AuthService], principal: NamedDependency[Principal]
    ) -> None:
        """End this session: its tokens stop working at once."""
        await auth.logout(principal)

    @post("/password", operation_id="ChangePassword", status_code=204, guards=[requires_signed_in])
    async def change_password(
        self,
        auth: NamedDependency[AuthService],
        principal: NamedDependency[Principal],
        data: JSONBody[PasswordChange],
    ) -> None:
        """Change your password (403 `wrong_password` if the current one is wrong); your
        other sessions end, this one goes on."""
        await auth.change_password(principal, data.current_password, data.new_password)

    @post("/password-reset", operation_id="RequestPasswordReset", status_code=202, security=[])
    async def request_password_reset(
        self,
        db_session: NamedDependency[AsyncSession],
        account_mail: NamedDependency[AccountMail],
        data: JSONBody[ResetRequest],
    ) -> Response[None]:
        """Mail a one-time reset link (valid 60 minutes); 202 whether or not the email exists.

        The mail leaves after the answer, so its time tells nothing either."""
        link = await OneTimeTokens(db_session).issue_password_reset(data.email)
        return Response(
            None,
            status_code=202,
            background=None if link is None else BackgroundTask(account_mail, link),
        )

    @post(
        "/password-reset/confirm",
        operation_id="ConfirmPasswordReset",
        status_code=204,
        security=[],
    )
    async def confirm_password_reset(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[ResetConfirm]
    ) -> None:
        """Set a new password from the link's token, once (422 `token_invalid` when unknown,
        used or expired); every session of the user ends."""
        await OneTimeTokens(db_session).reset_password(data.token, data.new_password)

    @post(
        "/invitations/accept",
        operation_id="AcceptInvitation",
        status_code=204,
        security=[],
    )
    async def accept_invitation(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[InvitationAccept]
    ) -> None:
        """Set your first password from the invitation link's token, once, within 7 days
        (422 `token_invalid`)."""
        await OneTimeTokens(db_session).accept_invitation(data.token, data.password)

    @get("/me", operation_id="GetMe", guards=[requires_signed_in])
    async def get_me(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
    ) -> UserRead:
        """The signed-in user, with the sites they are limited to (as of this request)."""
        user = await UserService(db_session).get(principal.user_id)
        return user_read(user, principal.site_ids or ())
