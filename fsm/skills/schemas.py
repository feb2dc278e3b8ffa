"""Skill wire types."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from fsm.schemas import Name
from fsm.skills.models import Skill

SkillCode = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$",
        description="Lower-case letters, digits, '-' and '_'",
        examples=["hvac"],
    ),
]


class SkillCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new skill."""

    code: SkillCode
    name: Name


class SkillRead(msgspec.Struct, kw_only=True):
    """A skill."""

    id: uuid.UUID
    code: str
    name: str


def skill_read(skill: Skill) -> SkillRead:
    """Wire form of a skill."""
    return SkillRead(id=skill.id, code=skill.code, name=skill.name)
