"""Custom fields: typed extra data per work-order type, validated against its definition."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.errors import Conflict, NotFound, ValidationFailed, field_error
from fsm.schemas import Count, Name
from fsm.workorders.models import (
    CustomFieldDefinition,
    CustomFieldKind,
    RequiredAt,
    WorkOrderType,
)

FieldKey = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
_MAX_TEXT = {CustomFieldKind.TEXT: 500, CustomFieldKind.LONG_TEXT: 10_000}


Position = Annotated[int, msgspec.Meta(ge=0, le=10_000, description="Order on the form")]


class DefinitionCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A custom field for work orders of one type."""

    work_order_type: WorkOrderType
    key: FieldKey
    label: Name
    kind: CustomFieldKind
    required_at: RequiredAt = RequiredAt.NEVER
    choices: list[Name] | None = None
    depends_on: FieldKey | None = None
    dependent_choices: dict[str, list[Name]] | None = None
    position: Position = 0


class DefinitionUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What an admin may change on a field; its key, kind and choices stay (stored values
    were checked against them). A deactivated field leaves new forms; stored values stay."""

    label: Name | msgspec.UnsetType = msgspec.UNSET
    required_at: RequiredAt | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class DefinitionRead(msgspec.Struct, kw_only=True):
    """A custom field definition."""

    id: uuid.UUID
    is_active: bool
    key: str
    work_order_type: WorkOrderType
    label: str
    kind: CustomFieldKind
    required_at: RequiredAt
    options: dict[str, Any]
    position: Count


class KeyTaken(Conflict):
    """This work-order type has a field with this key already."""


class CustomFieldNotFound(NotFound):
    """No such custom field definition."""


def definition_read(d: CustomFieldDefinition) -> DefinitionRead:
    """Wire form of a definition."""
    return DefinitionRead(
        id=d.id,
        is_active=d.is_active,
        key=d.key,
        work_order_type=d.work_order_type,
        label=d.label,
        kind=d.kind,
        required_at=d.required_at,
        options=d.options,
        position=d.position,
    )


def _field(key: str) -> str:
    return f"custom_fields.{key}"


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_value(d: CustomFieldDefinition, value: Any, values: Mapping[str, Any]) -> Any:
    """The value as stored, or a validation error naming the field."""
    name = _field(d.key)
    match d.kind:
        case CustomFieldKind.TEXT | CustomFieldKind.LONG_TEXT:
            if not isinstance(value, str):
                raise field_error(name, "expected text")
            if len(value) > _MAX_TEXT[d.kind]:
                raise field_error(name, f"at most {_MAX_TEXT[d.kind]} characters")
            return value
        case CustomFieldKind.NUMBER:
            # JSON booleans are ints in Python; a checkbox value is not a number.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise field_error(name, "expected a number")
            return value
        case CustomFieldKind.DATE:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise field_error(name, "expected a date as YYYY-MM-DD")
            try:
                date.fromisoformat(value)
            except ValueError as exc:
                raise field_error(name, "not a calendar date") from exc
            return value
        case CustomFieldKind.CHECKBOX:
            if not isinstance(value, bool):
                raise field_error(name, "expected true or false")
            return value
        case CustomFieldKind.DROPDOWN:
            choices = d.options.get("choices", [])
            if value not in choices:
                raise field_error(name, f"unknown option {value!r}; one of {choices}")
            return value
        case CustomFieldKind.DEPENDENT_DROPDOWN:
            parent = d.options["depends_on"]
            parent_value = values.get(parent)
            if not isinstance(parent_value, str):
                parent_value = None
            choices = d.options.get("choices", {}).get(parent_value, [])
            if value not in choices:
                raise field_error(
                    name,
                    f"unknown option {value!r} for {parent}={parent_value!r}; one of {choices}",
                )
            return value
    raise field_error(name, "unsupported field kind")  # pragma: no cover - enum is closed


def validate_custom_fields(
    definitions: Sequence[CustomFieldDefinition],
    values: Mapping[str, Any],
    *,
    stage: RequiredAt,
) -> dict[str, Any]:
    """Check values against the type's definitions; `stage` says which required ones apply.

    Raises:
        ValidationFailed: listing every bad or missing field, named `custom_fields.<key>`.
    """
    by_key = {d.key: d for d in definitions if d.is_active}
    problems: list[dict[str, str]] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        definition = by_key.get(key)
        if definition is None:
            problems.append({"field": _field(key), "message": "no such custom field"})
            continue
        if _is_blank(value):
            continue
        try:
            clean[key] = _check_value(definition, value, values)
        except ValidationFailed as exc:
            problems.extend(exc.details)
    required = (
        {RequiredAt.CREATION}
        if stage is RequiredAt.CREATION
        else {
            RequiredAt.CREATION,
            RequiredAt.RESOLUTION,
        }
    )
    for key, definition in by_key.items():
        if definition.required_at in required and key not in clean:
            problems.append({"field": _field(key), "message": "required"})
    if problems:
        names = ", ".join(p["field"] for p in problems)
        raise ValidationFailed(f"invalid custom fields: {names}", details=problems)
    return clean


class CustomFieldService:
    """Admins define fields; work orders validate against them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def definitions(self, work_order_type: WorkOrderType) -> Sequence[CustomFieldDefinition]:
        """The active fields of a work-order type, in display order."""
        stmt = (
            select(CustomFieldDefinition)
            .where(
                CustomFieldDefinition.work_order_type == work_order_type,
                CustomFieldDefinition.is_active,
            )
            .order_by(CustomFieldDefinition.position, CustomFieldDefinition.key)
        )
        return (await self.session.scalars(stmt)).all()

    async def all_definitions(self) -> Sequence[CustomFieldDefinition]:
        stmt = select(CustomFieldDefinition).order_by(
            CustomFieldDefinition.work_order_type,
            CustomFieldDefinition.position,
            CustomFieldDefinition.key,
        )
        return (await self.session.scalars(stmt)).all()

    async def define(self, data: DefinitionCreate) -> CustomFieldDefinition:
        """Add a field definition after checking its options fit its kind."""
        options: dict[str, Any] = {}
        if data.kind is CustomFieldKind.DROPDOWN:
            if not data.choices:
                raise field_error("choices", "a dropdown needs choices")
            options = {"choices": data.choices}
        elif data.kind is CustomFieldKind.DEPENDENT_DROPDOWN:
            if not data.depends_on or not data.dependent_choices:
                raise field_error("depends_on", "a dependent dropdown needs depends_on and choices")
            parent = next(
                (
                    d
                    for d in await self.definitions(data.work_order_type)
                    if d.key == data.depends_on
                ),
                None,
            )
            if parent is None or parent.kind is not CustomFieldKind.DROPDOWN:
                raise field_error("depends_on", "must name a dropdown field of the same type")
            unknown = sorted(set(data.dependent_choices) - set(parent.options["choices"]))
            if unknown:
                raise field_error("dependent_choices", f"not options of the parent: {unknown}")
            options = {"depends_on": data.depends_on, "choices": data.dependent_choices}
        exists = await self.session.scalar(
            select(CustomFieldDefinition.id).where(
                CustomFieldDefinition.work_order_type == data.work_order_type,
                CustomFieldDefinition.key == data.key,
            )
        )
        if exists:
            raise KeyTaken(f"{data.work_order_type} already has a field {data.key}")
        definition = CustomFieldDefinition(
            work_order_type=data.work_order_type,
            key=data.key,
            label=data.label,
            kind=data.kind,
            required_at=data.required_at,
            options=options,
            position=data.position,
        )
        self.session.add(definition)
        await self.session.flush()
        return definition

    async def update(
        self, definition_id: uuid.UUID, data: DefinitionUpdate
    ) -> CustomFieldDefinition:
        """Relabel, reorder, change when it is required, or (de)activate a field."""
        definition = await self.session.get(CustomFieldDefinition, definition_id)
        if definition is None:
            raise CustomFieldNotFound(f"custom field {definition_id} not found")
        for name, value in msgspec.structs.asdict(data).items():
            if value is not msgspec.UNSET:
                setattr(definition, name, value)
        await self.session.flush()
        return definition
