"""A typed client generated from the OpenAPI document (openapi-python-client) drives an
engineer's visit: if a response stops matching the document, or the document stops naming a
type, the generated client fails here the way it would in an app."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.main.app import create_app
from tests.factories import PASSWORD
from tests.mobile_api.engineer_helpers import DAY, make_route

PACKAGE = "fieldline_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from this build's document into a temporary folder."""
    where = tmp_path_factory.mktemp("generated")
    document = where / "openapi.json"
    document.write_bytes(msgspec.json.encode(create_app().openapi_schema.to_schema()))
    config = where / "config.yaml"
    # 600 time zone names include GMT+0 and GMT-0: as Python names they clash, as literals not.
    config.write_text(f"literal_enums: true\npackage_name_override: {PACKAGE}\n")
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [
            *(str(bin_dir / "openapi-python-client"), "generate", "--path", str(document)),
            *("--config", str(config), "--meta", "none", "--output-path", str(where / PACKAGE)),
        ],
        cwd=where,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    # Every JSON answer has a type: the only answers left out are the two documents.
    skipped = [line for line in said.splitlines() if "will be omitted" in line]
    assert len(skipped) == 2, said
    assert all("image/svg+xml" in s or "application/pdf" in s for s in skipped), skipped
    assert "Unable to process schema" not in said, said
    assert "Endpoint will not be generated" not in said, said
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


async def test_an_engineer_visit_through_the_generated_client(
    generated: ModuleType, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    route = await make_route(session, stops=2)
    models = _models()
    api = generated.Client(base_url="http://testserver").set_async_httpx_client(client)

    token = await _api("auth.login").asyncio(
        client=api, body=models.LoginRequest(email=route.user.email, password=PASSWORD)
    )
    assert isinstance(token, models.TokenResponse), token
    client.headers["Authorization"] = f"Bearer {token.access_token}"

    today = await _api("engineer_app.engineer_today").asyncio(client=api, date=DAY)
    assert isinstance(today, models.TodayRead), today
    # In route order: the helper gives position 1 to the visit it made last.
    assert [v.id for v in today.visits] == [v.id for v in route.visits[::-1]]
    first = today.visits[0]

    detail = await _api("engineer_app.engineer_get_visit").asyncio(first.id, client=api)
    assert isinstance(detail, models.VisitDetail), detail
    assert detail.visit.work_order.number in {o.number for o in route.orders}

    report = _api("engineer_app.engineer_report_status")
    for status in ("en_route", "on_site"):
        moved = await report.asyncio(
            first.id,
            client=api,
            body=models.StatusRequest(status=status),
            idempotency_key=str(uuid.uuid4()),
        )
        assert isinstance(moved, models.EngineerVisit), moved
        assert moved.status == status

    # A refusal is typed too: the document's one error body.
    refused = await report.asyncio(
        first.id,
        client=api,
        body=models.StatusRequest(status="en_route"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(refused, models.ErrorBody), refused
    assert refused.error.code

    comment = await _api("engineer_app.engineer_add_comment").asyncio(
        first.id,
        client=api,
        body=models.EngineerAppCommentCreate(body="Valve replaced, pressure back to 1.5 bar"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(comment, models.EngineerAppCommentRead), comment

    again = await _api("engineer_app.engineer_today").asyncio(client=api, date=DAY)
    assert isinstance(again, models.TodayRead)
    assert next(v for v in again.visits if v.id == first.id).status == "on_site"
