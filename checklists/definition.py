"""What a checklist asks: sections of typed items, and the rules a definition must obey.

A definition is stored as JSON on each template version and never changes once published,
so a run can always be read against exactly the questions it was answered on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec

from fsm.errors import ValidationFailed

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Key = Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=r"\S")]
Help = Annotated[str, msgspec.Meta(max_length=2000)]

MAX_ITEMS = 300
MAX_PHOTOS_PER_ITEM = 20
# A number item's range; stored definitions are decoded against it, so it is wide.
Measure = Annotated[float, msgspec.Meta(ge=-1e12, le=1e12)]


class ItemKind(enum.StrEnum):
    """The type of answer an item takes."""

    YES_NO = "yes_no"
    NUMBER = "number"
    TEXT = "text"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    PHOTO = "photo"
    SIGNATURE = "signature"


CHOICE_KINDS = frozenset({ItemKind.SINGLE_CHOICE, ItemKind.MULTIPLE_CHOICE})
# Items whose answer another item may depend on.
CONDITION_KINDS = frozenset({ItemKind.YES_NO, *CHOICE_KINDS})


class Choice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One option of a choice item: a stable value and what the engineer reads."""

    value: Key
    label: Label


class VisibleIf(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Show an item only when an earlier item's answer is one of `any_of`."""

    item: Key
    any_of: list[bool | str] = msgspec.field(default_factory=list)


class Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One question of a checklist."""

    key: Key
    label: Label
    kind: ItemKind
    is_required: bool = True
    is_client_visible: bool = False
    # A "no" or an out-of-range number here raises a finding on the work order.
    is_critical: bool = False
    # With a finding, also open a follow-up work order.
    opens_follow_up: bool = False
    help: Help = ""
    unit: Annotated[str, msgspec.Meta(max_length=30)] | None = None
    min: Measure | None = None
    max: Measure | None = None
    choices: list[Choice] = msgspec.field(default_factory=list)
    photo_count: Annotated[int, msgspec.Meta(ge=1, le=MAX_PHOTOS_PER_ITEM)] | None = None
    visible_if: VisibleIf | None = None


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An ordered group of items under a title."""

    title: Label
    items: Annotated[list[Item], msgspec.Meta(min_length=1)]


class Definition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole checklist: ordered sections of items."""

    sections: Annotated[list[Section], msgspec.Meta(min_length=1, max_length=50)]

    def items(self) -> Iterator[Item]:
        """Every item in reading order."""
        for section in self.sections:
            yield from section.items

    def item_map(self) -> dict[str, Item]:
        """Items by key."""
        return {item.key: item for item in self.items()}


def _problem(path: str, message: str) -> dict[str, str]:
    return {"field": path, "message": message}


def check_definition(definition: Definition, *, field: str = "definition") -> None:
    """Refuse a definition that could not be answered: 422 naming every faulty item."""
    problems: list[dict[str, str]] = []
    seen: dict[str, Item] = {}
    count = 0
    for s, section in enumerate(definition.sections):
        for i, item in enumerate(section.items):
            count += 1
            path = f"{field}.sections[{s}].items[{i}]"
            if item.key in seen:
                problems.append(_problem(f"{path}.key", f"duplicate item key {item.key!r}"))
            problems.extend(_kind_problems(item, path))
            if item.visible_if is not None:
                problems.extend(_condition_problems(item.visible_if, seen, f"{path}.visible_if"))
            seen[item.key] = item
    if count > MAX_ITEMS:
        problems.append(_problem(field, f"at most {MAX_ITEMS} items"))
    if problems:
        raise ValidationFailed(
            "the checklist definition has problems: " + "; ".join(p["message"] for p in problems),
            details=problems,
        )


def _kind_problems(item: Item, path: str) -> list[dict[str, str]]:
    problems = []
    if item.kind in CHOICE_KINDS:
        values = [c.value for c in item.choices]
        if len(values) < 2:
            problems.append(_problem(f"{path}.choices", "a choice item needs at least 2 choices"))
        if len(set(values)) != len(values):
            problems.append(_problem(f"{path}.choices", "choice values must be unique"))
    elif item.choices:
        problems.append(_problem(f"{path}.choices", f"a {item.kind} item takes no choices"))
    if item.kind is ItemKind.NUMBER:
        if item.min is not None and item.max is not None and item.min > item.max:
            problems.append(_problem(f"{path}.min", "min is above max"))
    elif item.min is not None or item.max is not None or item.unit is not None:
        problems.append(_problem(path, f"min, max and unit are for number items, not {item.kind}"))
    if item.kind is ItemKind.PHOTO:
        if item.photo_count is None:
            problems.append(_problem(f"{path}.photo_count", "a photo item needs photo_count"))
    elif item.photo_count is not None:
        problems.append(_problem(f"{path}.photo_count", "photo_count is for photo items"))
    if (item.is_critical or item.opens_follow_up) and item.kind not in (
        ItemKind.YES_NO,
        ItemKind.NUMBER,
    ):
        problems.append(
            _problem(path, "only yes/no and number items can be critical or open a follow-up")
        )
    if item.opens_follow_up and not item.is_critical and item.kind is ItemKind.YES_NO:
        problems.append(_problem(f"{path}.opens_follow_up", "a follow-up needs is_critical"))
    return problems


def _condition_problems(
    condition: VisibleIf, earlier: dict[str, Item], path: str
) -> list[dict[str, str]]:
    # Conditions point backwards only, so they can never form a cycle.
    source = earlier.get(condition.item)
    if source is None:
        return [_problem(f"{path}.item", f"{condition.item!r} is not an earlier item")]
    if source.kind not in CONDITION_KINDS:
        return [_problem(f"{path}.item", f"a {source.kind} item cannot drive visibility")]
    if not condition.any_of:
        return [_problem(f"{path}.any_of", "name at least one answer")]
    yes_no = source.kind is ItemKind.YES_NO
    allowed: set[bool | str] = {True, False} if yes_no else {c.value for c in source.choices}
    unknown = [v for v in condition.any_of if v not in allowed or isinstance(v, bool) is not yes_no]
    if unknown:
        return [_problem(f"{path}.any_of", f"not answers of {condition.item!r}: {unknown}")]
    return []


def decode_definition(raw: Any) -> Definition:
    """A stored definition (JSON) back as structs."""
    return msgspec.convert(raw, Definition)


def encode_definition(definition: Definition) -> Any:
    """A definition as JSON-ready builtins for storage."""
    return msgspec.to_builtins(definition)
