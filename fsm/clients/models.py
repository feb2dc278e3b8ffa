"""Clients: the companies whose equipment we maintain, and their contact people."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fsm.db import Base, IdMixin, TimestampMixin


class Client(IdMixin, TimestampMixin, Base):
    """A legal entity under contract."""

    __tablename__ = "clients"
    __table_args__ = (
        Index("uq_clients_tax_id", "tax_id", unique=True, postgresql_where="tax_id IS NOT NULL"),
        # Name search is a case-insensitive substring match; trigram index keeps it fast.
        Index(
            "ix_clients_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    notes: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # IANA zone its billing periods and monthly reports are cut in.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # The key of this row in the company's own records, matched by re-imports.
    external_key: Mapped[str | None] = mapped_column(String(100), unique=True)

    contacts: Mapped[list[ClientContact]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        order_by="ClientContact.name",
        lazy="selectin",
    )


class ClientContact(IdMixin, Base):
    """A person to call or write to at a client."""

    __tablename__ = "client_contacts"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(default=False, server_default="false")
    # The key of this row in the company's own records, matched by re-imports.
    external_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # A site contact (the caretaker, the branch manager): the engineer sees them on the visit.
    site_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )

    client: Mapped[Client] = relationship(back_populates="contacts")
