"""Skills: what an engineer is qualified for and what work requires."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from fsm.db import Base, IdMixin


class Skill(IdMixin, Base):
    """A qualification such as `hvac` or `lift-hydraulic`."""

    __tablename__ = "skills"

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
