"""Checklist definitions: a template that could not be answered is refused, naming the item."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from checklists.definition import Definition, check_definition
from fsm.errors import ValidationFailed


def _definition(*items: dict[str, Any]) -> Definition:
    return msgspec.convert({"sections": [{"title": "Checks", "items": list(items)}]}, Definition)


def _problems(definition: Definition) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as refused:
        check_definition(definition)
    problems: list[dict[str, str]] = refused.value.details
    return problems


YES_NO = {"key": "door_ok", "label": "Door closes", "kind": "yes_no"}
CHOICE = {
    "key": "state",
    "label": "State",
    "kind": "single_choice",
    "choices": [{"value": "good", "label": "Good"}, {"value": "worn", "label": "Worn"}],
}


class TestCheckDefinition:
    def test_a_well_formed_definition_passes(self) -> None:
        check_definition(
            _definition(
                YES_NO,
                CHOICE,
                {
                    "key": "pressure",
                    "label": "Pressure",
                    "kind": "number",
                    "unit": "bar",
                    "min": 1.0,
                    "max": 2.5,
                    "is_critical": True,
                    "opens_follow_up": True,
                },
                {
                    "key": "wear",
                    "label": "Where worn",
                    "kind": "text",
                    "visible_if": {"item": "state", "any_of": ["worn"]},
                },
                {"key": "pics", "label": "Photos", "kind": "photo", "photo_count": 2},
                {"key": "sign", "label": "Client signature", "kind": "signature"},
            )
        )

    def test_duplicate_keys_are_refused_naming_the_second(self) -> None:
        problems = _problems(_definition(YES_NO, {**YES_NO, "label": "Again"}))

        assert problems == [
            {
                "field": "definition.sections[0].items[1].key",
                "message": "duplicate item key 'door_ok'",
            }
        ]

    def test_a_choice_item_needs_two_distinct_choices(self) -> None:
        one = {**CHOICE, "choices": [{"value": "good", "label": "Good"}]}
        twice = {**CHOICE, "key": "s2", "choices": [{"value": "a", "label": "A"}] * 2}

        fields = [p["field"] for p in _problems(_definition(one, twice))]

        assert fields == [
            "definition.sections[0].items[0].choices",
            "definition.sections[0].items[1].choices",
        ]

    def test_min_above_max_and_range_on_a_text_item_are_refused(self) -> None:
        problems = _problems(
            _definition(
                {"key": "t", "label": "T", "kind": "number", "min": 5, "max": 1},
                {"key": "x", "label": "X", "kind": "text", "unit": "bar"},
            )
        )

        assert [p["message"] for p in problems] == [
            "min is above max",
            "min, max and unit are for number items, not text",
        ]

    def test_a_photo_item_needs_a_photo_count(self) -> None:
        problems = _problems(_definition({"key": "p", "label": "P", "kind": "photo"}))

        assert problems[0]["field"].endswith("photo_count")

    def test_only_yes_no_and_numbers_can_be_critical(self) -> None:
        problems = _problems(
            _definition({"key": "t", "label": "T", "kind": "text", "is_critical": True})
        )

        assert "can be critical" in problems[0]["message"]

    def test_a_condition_must_point_to_an_earlier_choice_or_yes_no_item(self) -> None:
        forward = {**YES_NO, "key": "a", "visible_if": {"item": "b", "any_of": [True]}}
        on_text = {"key": "c", "label": "C", "kind": "text"}
        dependent = {**YES_NO, "key": "d", "visible_if": {"item": "c", "any_of": ["x"]}}

        problems = _problems(_definition(forward, {**YES_NO, "key": "b"}, on_text, dependent))

        assert [p["message"] for p in problems] == [
            "'b' is not an earlier item",
            "a text item cannot drive visibility",
        ]

    def test_a_condition_must_name_real_answers_of_the_right_type(self) -> None:
        bad_choice = {
            "key": "w",
            "label": "W",
            "kind": "text",
            "visible_if": {"item": "state", "any_of": ["broken"]},
        }
        string_for_bool = {
            "key": "v",
            "label": "V",
            "kind": "text",
            "visible_if": {"item": "door_ok", "any_of": ["yes"]},
        }

        problems = _problems(_definition(YES_NO, CHOICE, bad_choice, string_for_bool))

        assert [p["field"] for p in problems] == [
            "definition.sections[0].items[2].visible_if.any_of",
            "definition.sections[0].items[3].visible_if.any_of",
        ]

    def test_unknown_fields_and_kinds_are_refused_when_decoding(self) -> None:
        with pytest.raises(msgspec.ValidationError):
            _definition({**YES_NO, "colour": "red"})
        with pytest.raises(msgspec.ValidationError):
            _definition({**YES_NO, "kind": "slider"})
