"""Users: everyone who signs in, with one role each."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin, TimestampMixin, value_enum


class Role(enum.StrEnum):
    """What a user may do; client users are bound to one client."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    ENGINEER = "engineer"
    CLIENT = "client"


STAFF_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER})


class User(IdMixin, TimestampMixin, Base):
    """A person who signs in: staff, field engineer or client user."""

    __tablename__ = "users"
    __table_args__ = (
        # Emails are unique whatever their case: "Ann@x.com" and "ann@x.com" are one person.
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        CheckConstraint(
            "(role = 'client') = (client_id IS NOT NULL)", name="client_users_have_a_client"
        ),
        CheckConstraint("role = 'client' OR NOT is_client_admin", name="client_admins_are_clients"),
        # The target of client_user_sites' foreign key: only a client user has sites.
        UniqueConstraint("id", "client_id"),
    )

    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(value_enum(Role, "user_role"))
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # A client user who invites and removes their own company's users in the client app.
    is_client_admin: Mapped[bool] = mapped_column(default=False, server_default="false")
    # The language of what we write to this person (mail): "en" or "ru".
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")


class ClientUserSite(Base):
    """One site a client user is limited to; a client user without any sees the whole company.

    The database keeps both rules: the user is a client user (only they have a `client_id`)
    and the site is of that user's company, each by a foreign key over `client_id`. A removed
    user takes its rows along; a site cannot be removed while someone is limited to it, since
    losing the last row would widen that user to the whole company.
    """

    __tablename__ = "client_user_sites"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "client_id"], ["users.id", "users.client_id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["site_id", "client_id"], ["sites.id", "sites.client_id"], ondelete="RESTRICT"
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Indexed for the notification fan-out ("who may hear of this site?") and site deletes.
    site_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    client_id: Mapped[uuid.UUID]
