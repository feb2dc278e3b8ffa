"""The OpenAPI document: every number bounded, every refusal documented with our error body."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from fsm.auth.middleware import PUBLIC_PATHS
from fsm.main.app import create_app

_METHODS = ("get", "put", "post", "delete", "patch")
_UNBOUNDED_ALLOWED: set[str] = set()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = create_app().openapi_schema.to_schema()
    return schema


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in _METHODS:
            if method in item:
                yield path, method, item[method]


def _unbounded(schema: Any, where: str, low: bool = False, high: bool = False) -> Iterator[str]:
    """Every numeric schema under `schema` without a lower and an upper bound."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    low = low or "minimum" in schema or "exclusiveMinimum" in schema
    high = high or "maximum" in schema or "exclusiveMaximum" in schema
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if {"integer", "number"} & set(kinds) and not (low and high):
        yield where
    # An optional number carries its bounds beside its `oneOf`.
    for key in ("oneOf", "anyOf", "allOf"):
        for member in schema.get(key, ()):
            yield from _unbounded(member, where, low, high)
    for name, prop in (schema.get("properties") or {}).items():
        yield from _unbounded(prop, f"{where}.{name}")
    yield from _unbounded(schema.get("items"), f"{where}[]")
    yield from _unbounded(schema.get("additionalProperties"), f"{where}{{}}")


class TestNumericBounds:
    def test_every_parameter_is_bounded(self, document: dict[str, Any]) -> None:
        found = [
            where
            for path, method, operation in _operations(document)
            for parameter in operation.get("parameters", ())
            for where in _unbounded(
                parameter.get("schema"), f"{method.upper()} {path} {parameter['name']}"
            )
        ]

        assert found == []

    def test_every_schema_property_is_bounded(self, document: dict[str, Any]) -> None:
        found = [
            where
            for name, schema in document["components"]["schemas"].items()
            for where in _unbounded(schema, name)
        ]

        assert sorted(set(found) - _UNBOUNDED_ALLOWED) == []

    def test_inline_bodies_are_bounded(self, document: dict[str, Any]) -> None:
        found: list[str] = []
        for path, method, operation in _operations(document):
            bodies = [operation.get("requestBody") or {}, *operation["responses"].values()]
            for body in bodies:
                for media in (body.get("content") or {}).values():
                    found += _unbounded(media.get("schema"), f"{method.upper()} {path}")

        assert found == []


class TestErrorAnswers:
    def test_error_body_is_a_named_component(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]

        assert schemas["ErrorBody"]["properties"]["error"] == {
            "$ref": "#/components/schemas/ErrorDetail"
        }
        assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message", "details"}

    def test_every_error_answer_has_our_body(self, document: dict[str, Any]) -> None:
        wrong = [
            f"{method.upper()} {path} {status}"
            for path, method, operation in _operations(document)
            for status, response in operation["responses"].items()
            # /health answers 503 with its own report of every part.
            if int(status) >= 400
            and (path, status) != ("/health", "503")
            and response.get("content", {}).get("application/json", {}).get("schema")
            != {"$ref": "#/components/schemas/ErrorBody"}
        ]

        assert wrong == []

    def test_signed_in_operations_document_401_and_403(self, document: dict[str, Any]) -> None:
        missing = [
            f"{method.upper()} {path}"
            for path, method, operation in _operations(document)
            if path not in PUBLIC_PATHS and not {"401", "403"} <= set(operation["responses"])
        ]

        assert missing == []

    def test_path_ids_document_404(self, document: dict[str, Any]) -> None:
        missing = [
            f"{method.upper()} {path}"
            for path, method, operation in _operations(document)
            if "{" in path and "404" not in operation["responses"]
        ]

        assert missing == []

    def test_changes_document_409(self, document: dict[str, Any]) -> None:
        missing = [
            f"{method.upper()} {path}"
            for path, method, operation in _operations(document)
            if method != "get" and "409" not in operation["responses"]
        ]

        assert missing == []

    def test_input_documents_422(self, document: dict[str, Any]) -> None:
        missing = [
            f"{method.upper()} {path}"
            for path, method, operation in _operations(document)
            if (operation.get("parameters") or operation.get("requestBody"))
            and "422" not in operation["responses"]
        ]

        assert missing == []

    def test_login_documents_429_with_retry_after(self, document: dict[str, Any]) -> None:
        answer = document["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"]

        assert "Retry-After" in answer["headers"]


class TestPublicPaths:
    @pytest.mark.parametrize(
        ("path", "method"),
        [("/health", "get"), ("/api/v1/auth/login", "post"), ("/api/v1/auth/refresh", "post")],
    )
    def test_needs_no_token(self, document: dict[str, Any], path: str, method: str) -> None:
        operation = document["paths"][path][method]

        assert operation["security"] == []
        if path == "/health":
            assert "401" not in operation["responses"]
        else:  # wrong credentials or a spent refresh token, never a missing bearer token
            assert "credentials" in operation["responses"]["401"]["description"]

    def test_others_need_the_bearer_token(self, document: dict[str, Any]) -> None:
        assert document["security"] == [{"bearer": []}]


class TestAnswerTypes:
    def test_no_json_answer_is_a_bare_string(self, document: dict[str, Any]) -> None:
        strings = [
            f"{method.upper()} {path} {status}"
            for path, method, operation in _operations(document)
            for status, response in operation["responses"].items()
            if response.get("content", {}).get("application/json", {}).get("schema", {}).get("type")
            == "string"
        ]

        assert strings == []

    @pytest.mark.parametrize(
        ("operation_id", "status", "component"),
        [
            ("EngineerToday", "200", "TodayRead"),
            ("EngineerGetVisit", "200", "VisitDetail"),
            ("EngineerReportStatus", "200", "EngineerVisit"),
            ("EngineerSaveChecklistAnswers", "200", "RunRead"),
            ("EngineerAddComment", "201", "EngineerAppCommentRead"),
            ("EngineerRecordLocation", "200", "LocationRead"),
        ],
    )
    def test_engineer_app_answers_name_their_type(
        self, document: dict[str, Any], operation_id: str, status: str, component: str
    ) -> None:
        operation = next(o for _, _, o in _operations(document) if o["operationId"] == operation_id)

        assert operation["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{component}"
        }

    def test_a_time_of_day_is_a_local_time_not_a_duration(self, document: dict[str, Any]) -> None:
        """What msgspec writes ("06:00:00"), with no offset: JSON Schema's `time` format
        demands one, so a validating client refused every shift."""
        shift = document["components"]["schemas"]["Shift"]["properties"]

        for name in ("starts_at", "ends_at"):
            assert "format" not in shift[name]
            pattern = re.compile(shift[name]["pattern"])
            assert pattern.match("06:00:00")
            assert pattern.match("23:59:59.5")
            assert not pattern.match("06:00:00Z")
            assert not pattern.match("24:00:00")

    def test_a_body_that_refuses_unknown_fields_says_so(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        assert schemas["LocationBatch"]["additionalProperties"] is False
        assert schemas["StatusAction"]["additionalProperties"] is False

    def test_every_time_zone_names_the_one_list(self, document: dict[str, Any]) -> None:
        zones = document["components"]["schemas"]["TimeZone"]["enum"]
        assert "Europe/Berlin" in zones
        assert "GB" in zones  # a legacy alias zoneinfo still reads
        assert "00" not in zones
        site = document["components"]["schemas"]["SiteCreate"]["properties"]
        assert site["timezone"] == {"$ref": "#/components/schemas/TimeZone"}

    def test_list_items_keep_their_pattern(self, document: dict[str, Any]) -> None:
        skills = document["components"]["schemas"]["SkillsReplace"]["properties"]
        assert skills["skills"]["items"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,49}$"


class TestFileAnswers:
    def test_a_report_documents_each_file_it_can_answer(self, document: dict[str, Any]) -> None:
        for path in ("/api/v1/reports/sla-statement", "/mobile/v1/client/reports/service-levels"):
            content = document["paths"][path]["get"]["responses"]["200"]["content"]

            assert set(content) == {
                "application/json",
                "text/csv",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/pdf",
            }, path
            assert content["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
