"""The signed-in user's notification settings: their language and which mails they get."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.auth.guards import requires_signed_in
from fsm.auth.principal import Principal
from fsm.notifications.service import preferences_of, set_preferences
from fsm.users.service import UserService

Language = Literal["en", "ru"]
Kind = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class NotificationSettingsRead(msgspec.Struct, kw_only=True):
    """What the user is told of: every kind for their role, and whether it comes by mail."""

    language: Language
    mail: dict[str, bool]


class NotificationSettingsUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A change of language and/or of some kinds' mail choice (others stay as they are)."""

    language: Language | msgspec.UnsetType = msgspec.UNSET
    mail: Annotated[dict[Kind, bool], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=dict
    )


class NotificationSettingsController(Controller):
    """`/api/v1/auth/me/notifications`: every role's own settings, nobody else's."""

    path = "/api/v1/auth/me/notifications"
    tags = ["auth"]
    guards = [requires_signed_in]

    @get(operation_id="GetMyNotificationSettings")
    async def get_my_notification_settings(
        self, db_session: NamedDependency[AsyncSession], principal: NamedDependency[Principal]
    ) -> NotificationSettingsRead:
        """My language and, per kind of event I may be told of, whether I get a mail."""
        user = await UserService(db_session).get(principal.user_id)
        return NotificationSettingsRead(
            language=user.language,  # type: ignore[arg-type]
            mail=await preferences_of(db_session, user),
        )

    @put(operation_id="UpdateMyNotificationSettings")
    async def update_my_notification_settings(
        self,
        db_session: NamedDependency[AsyncSession],
        principal: NamedDependency[Principal],
        data: JSONBody[NotificationSettingsUpdate],
    ) -> NotificationSettingsRead:
        """Change my language or mail choices; a kind not for my role is 422 naming it."""
        user = await UserService(db_session).get(principal.user_id)
        mail = await set_preferences(
            db_session,
            user,
            language=None if isinstance(data.language, msgspec.UnsetType) else data.language,
            by_mail=data.mail,
        )
        return NotificationSettingsRead(language=user.language, mail=mail)  # type: ignore[arg-type]
