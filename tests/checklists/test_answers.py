"""Answers: each kind takes only its own type, flags what needs attention, and completeness."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from checklists.answers import check_answer, progress, visible_keys
from checklists.definition import Definition, Item
from fsm.errors import ValidationFailed

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _item(**fields: Any) -> Item:
    return msgspec.convert({"key": "k", "label": "Item", **fields}, Item)


def _refusal(item: Item, value: Any) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as refused:
        check_answer(item, value)
    detail: dict[str, Any] = refused.value.details[0]
    return detail


class TestKinds:
    @pytest.mark.parametrize("value", ["yes", 1, None, [True]])
    def test_yes_no_takes_only_booleans(self, value: Any) -> None:
        assert _refusal(_item(kind="yes_no"), value)["item_key"] == "k"

    def test_a_critical_no_is_flagged_and_a_plain_no_is_not(self) -> None:
        assert check_answer(_item(kind="yes_no"), False) == (False, None)
        _, flag = check_answer(_item(kind="yes_no", is_critical=True), False)
        assert flag is not None
        assert flag.kind == "critical_no"

    @pytest.mark.parametrize("value", ["12", True, float("nan"), float("inf"), None])
    def test_number_takes_only_finite_numbers(self, value: Any) -> None:
        assert _refusal(_item(kind="number"), value)["message"] == "expects a number"

    def test_out_of_range_numbers_are_kept_but_flagged_with_the_unit(self) -> None:
        item = _item(kind="number", unit="bar", min=1.0, max=2.5)

        assert check_answer(item, 2.5) == (2.5, None)
        value, low = check_answer(item, 0.4)
        _, high = check_answer(item, 3)

        assert value == 0.4
        assert low is not None
        assert low.message == "Item: 0.4 bar is below 1.0 bar"
        assert high is not None
        assert high.kind == "out_of_range"

    @pytest.mark.parametrize("value", ["", "   ", 5, "x" * 4001])
    def test_text_must_say_something_and_not_too_much(self, value: Any) -> None:
        _refusal(_item(kind="text"), value)

    def test_single_choice_takes_a_known_value(self) -> None:
        item = _item(
            kind="single_choice",
            choices=[{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
        )

        assert check_answer(item, "b") == ("b", None)
        assert "expects one of ['a', 'b']" in _refusal(item, "c")["message"]

    def test_multiple_choice_takes_known_values_once_in_template_order(self) -> None:
        item = _item(
            kind="multiple_choice",
            choices=[{"value": v, "label": v.upper()} for v in ("a", "b", "c")],
        )

        assert check_answer(item, ["c", "a"]) == (["a", "c"], None)
        assert "unknown choices ['z']" in _refusal(item, ["a", "z"])["message"]
        assert _refusal(item, ["a", "a"])["message"] == "lists a choice twice"
        _refusal(item, [])
        _refusal(item, "a")

    def test_signature_takes_a_name_and_a_png(self) -> None:
        item = _item(kind="signature")
        image = base64.b64encode(PNG).decode()

        value, _ = check_answer(item, {"name": " Ada Client ", "image_png_base64": image})

        assert value == {"name": "Ada Client", "image_png_base64": image}
        jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 20).decode()
        assert "not a PNG" in _refusal(item, {"name": "A", "image_png_base64": jpeg})["message"]
        assert "base64" in _refusal(item, {"name": "A", "image_png_base64": "%%%"})["message"]
        _refusal(item, {"name": "", "image_png_base64": image})
        _refusal(item, {"name": "A"})

    def test_photo_items_are_answered_by_uploads_not_values(self) -> None:
        assert "uploading photos" in _refusal(_item(kind="photo", photo_count=1), True)["message"]


DEFINITION = msgspec.convert(
    {
        "sections": [
            {
                "title": "Inspection",
                "items": [
                    {"key": "leak", "label": "Leak found", "kind": "yes_no"},
                    {
                        "key": "where",
                        "label": "Where",
                        "kind": "single_choice",
                        "choices": [
                            {"value": "pump", "label": "Pump"},
                            {"value": "valve", "label": "Valve"},
                        ],
                        "visible_if": {"item": "leak", "any_of": [True]},
                    },
                    {
                        "key": "valve_size",
                        "label": "Valve size",
                        "kind": "number",
                        "visible_if": {"item": "where", "any_of": ["valve"]},
                    },
                    {"key": "notes", "label": "Notes", "kind": "text", "is_required": False},
                    {"key": "pics", "label": "Photos", "kind": "photo", "photo_count": 2},
                ],
            }
        ]
    },
    Definition,
)


class TestVisibility:
    def test_items_show_only_when_their_condition_holds(self) -> None:
        assert visible_keys(DEFINITION, {}) == {"leak", "notes", "pics"}
        assert visible_keys(DEFINITION, {"leak": True, "where": "valve"}) == {
            "leak",
            "where",
            "valve_size",
            "notes",
            "pics",
        }

    def test_hiding_an_item_hides_what_depends_on_it(self) -> None:
        # "where" still holds "valve" from before, but "leak" is now no.
        assert "valve_size" not in visible_keys(DEFINITION, {"leak": False, "where": "valve"})

    def test_a_yes_no_answer_never_matches_a_number_by_accident(self) -> None:
        definition = msgspec.convert(
            {
                "sections": [
                    {
                        "title": "S",
                        "items": [
                            {"key": "a", "label": "A", "kind": "yes_no"},
                            {
                                "key": "b",
                                "label": "B",
                                "kind": "text",
                                "visible_if": {"item": "a", "any_of": [True]},
                            },
                        ],
                    }
                ]
            },
            Definition,
        )

        assert "b" not in visible_keys(definition, {"a": 1})


class TestProgress:
    def test_counts_required_visible_items_and_lists_what_is_missing(self) -> None:
        done = progress(DEFINITION, {"leak": True}, {"pics": 1})

        assert (done.required_total, done.required_answered) == (3, 1)
        assert [(m["kind"], m["item_key"]) for m in done.missing] == [
            ("checklist_item", "where"),
            ("checklist_photos", "pics"),
        ]
        assert done.missing[1]["message"] == "Photos: 1 more photo(s) needed"

    def test_is_complete_with_every_visible_required_answer_and_enough_photos(self) -> None:
        done = progress(DEFINITION, {"leak": False}, {"pics": 2})

        assert done.is_complete
        assert (done.required_total, done.required_answered) == (2, 2)
