"""Answers against a definition: type checks per item kind, visibility, flags, completeness.

Pure functions: no database, so every rule is tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checklists.definition import Definition, Item, ItemKind
from fsm.errors import ValidationFailed

MAX_TEXT = 4000
MAX_SIGNER_NAME = 200
MAX_SIGNATURE_BYTES = 100_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class Flag:
    """Why an answer needs someone's attention."""

    kind: str  # "out_of_range" | "critical_no"
    message: str


def _refuse(item: Item, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"item {item.key!r} ({item.label}): {message}",
        details=[{"field": "answers", "item_key": item.key, "message": message}],
    )


def check_answer(item: Item, value: Any) -> tuple[Any, Flag | None]:
    """The answer as stored, and its flag; a 422 naming the item if it does not fit the kind."""
    match item.kind:
        case ItemKind.YES_NO:
            if not isinstance(value, bool):
                raise _refuse(item, "expects true (yes) or false (no)")
            if item.is_critical and value is False:
                return value, Flag("critical_no", f"{item.label}: answered no")
            return value, None
        case ItemKind.NUMBER:
            return _check_number(item, value)
        case ItemKind.TEXT:
            if not isinstance(value, str) or not value.strip():
                raise _refuse(item, "expects a non-empty text")
            if len(value) > MAX_TEXT:
                raise _refuse(item, f"at most {MAX_TEXT} characters")
            return value, None
        case ItemKind.SINGLE_CHOICE:
            allowed = [c.value for c in item.choices]
            if not isinstance(value, str) or value not in allowed:
                raise _refuse(item, f"expects one of {allowed}")
            return value, None
        case ItemKind.MULTIPLE_CHOICE:
            allowed = [c.value for c in item.choices]
            if not isinstance(value, list) or not value:
                raise _refuse(item, f"expects a non-empty list of {allowed}")
            unknown = [v for v in value if not isinstance(v, str) or v not in allowed]
            if unknown:
                raise _refuse(item, f"unknown choices {unknown}; expects some of {allowed}")
            if len(set(value)) != len(value):
                raise _refuse(item, "lists a choice twice")
            # Stored in the template's order, whatever order the app sent.
            return [v for v in allowed if v in value], None
        case ItemKind.SIGNATURE:
            return _check_signature(item, value), None
        case ItemKind.PHOTO:
            raise _refuse(
                item, "photo items are answered by uploading photos with this checklist_item_key"
            )
    raise _refuse(item, f"unknown kind {item.kind}")  # pragma: no cover - exhaustive above


def _check_number(item: Item, value: Any) -> tuple[Any, Flag | None]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse(item, "expects a number")
    unit = f" {item.unit}" if item.unit else ""
    if item.min is not None and value < item.min:
        return value, Flag("out_of_range", f"{item.label}: {value}{unit} is below {item.min}{unit}")
    if item.max is not None and value > item.max:
        return value, Flag("out_of_range", f"{item.label}: {value}{unit} is above {item.max}{unit}")
    return value, None


def _check_signature(item: Item, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"name", "image_png_base64"}:
        raise _refuse(item, "expects {name, image_png_base64}")
    name, image = value["name"], value["image_png_base64"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_SIGNER_NAME:
        raise _refuse(item, f"expects the signer's name (1 to {MAX_SIGNER_NAME} characters)")
    if not isinstance(image, str):
        raise _refuse(item, "expects the signature as a base64 PNG")
    try:
        raw = base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(item, "the signature image is not valid base64") from None
    if not raw.startswith(PNG_MAGIC):
        raise _refuse(item, "the signature image is not a PNG")
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise _refuse(item, f"the signature image is over {MAX_SIGNATURE_BYTES} bytes")
    return {"name": name.strip(), "image_png_base64": image}


def visible_keys(definition: Definition, answers: Mapping[str, Any]) -> set[str]:
    """Items shown given these answers; an item hidden by its condition hides its dependants."""
    visible: set[str] = set()
    for item in definition.items():
        condition = item.visible_if
        if condition is None:
            visible.add(item.key)
            continue
        if condition.item not in visible or condition.item not in answers:
            continue
        answer = answers[condition.item]
        given = answer if isinstance(answer, list) else [answer]
        if any(_same(g, wanted) for g in given for wanted in condition.any_of):
            visible.add(item.key)
    return visible


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; a yes/no answer must not match a choice by accident.
    return type(a) is type(b) and a == b


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is: required items answered, and what is still missing."""

    required_total: int
    required_answered: int
    missing: list[dict[str, Any]]

    @property
    def is_complete(self) -> bool:
        """Every required, visible item is answered (photos: enough of them)."""
        return not self.missing


def progress(
    definition: Definition, answers: Mapping[str, Any], photo_counts: Mapping[str, int]
) -> Progress:
    """What is answered and what is missing, counting only visible required items."""
    visible = visible_keys(definition, answers)
    total = answered = 0
    missing: list[dict[str, Any]] = []
    for item in definition.items():
        if not item.is_required or item.key not in visible:
            continue
        total += 1
        if item.kind is ItemKind.PHOTO:
            have, need = photo_counts.get(item.key, 0), item.photo_count or 1
            if have >= need:
                answered += 1
            else:
                missing.append(
                    {
                        "kind": "checklist_photos",
                        "item_key": item.key,
                        "label": item.label,
                        "message": f"{item.label}: {need - have} more photo(s) needed",
                    }
                )
        elif item.key in answers:
            answered += 1
        else:
            missing.append(
                {
                    "kind": "checklist_item",
                    "item_key": item.key,
                    "label": item.label,
                    "message": f"{item.label}: not answered",
                }
            )
    return Progress(required_total=total, required_answered=answered, missing=missing)
