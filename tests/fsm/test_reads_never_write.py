"""A read never writes: every GET of the API, as each demo role, on the demo's own data."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fsm.main.demo import DEMO_DOMAIN, DEMO_PASSWORD
from fsm.settings import Settings
from tests.fsm.test_demo import load_the_demo
from tests.mobile_api.client_helpers import counting_queries

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
PARAM = re.compile(r"\{([a-z_]+)\}")
ROLES = {
    "admin": f"admin@{DEMO_DOMAIN}",
    "dispatcher": f"dispatch@{DEMO_DOMAIN}",
    "engineer": f"engineer1@{DEMO_DOMAIN}",
    "client": f"client@{DEMO_DOMAIN}",
}


def _harvest(found: dict[str, set[str]], path: str, body: Any) -> None:
    """Ids a role was shown: `x_id` fields by name, `id` by the collection's path."""
    if isinstance(body, list):
        for item in body:
            _harvest(found, path, item)
        return
    if not isinstance(body, dict):
        return
    collection = path.rstrip("/").rsplit("/", 1)[-1]
    for key, value in body.items():
        if isinstance(value, str) and _is_uuid(value):
            if key == "id" and not PARAM.search(collection):
                for name in _names_of(collection):
                    found.setdefault(name, set()).add(value)
            elif key.endswith("_id"):
                found.setdefault(key, set()).add(value)
        elif isinstance(value, dict | list):
            _harvest(found, path, value)


def _names_of(collection: str) -> list[str]:
    """`checklist-templates` ids fill `{checklist_template_id}` and `{template_id}`."""
    words = collection.split("-")
    last = words[-1]
    words[-1] = last[:-3] + "y" if last.endswith("ies") else last.removesuffix("s")
    return ["_".join(words[i:]) + "_id" for i in range(len(words))]


def _paths(template: str, names: list[str], ids: dict[str, set[str]]) -> list[str]:
    """Up to three paths for `template`: other tests' committed rows share the database, so
    the first parameter's ids are tried in turn until one the role may read answers."""
    if not names:
        return [template]
    paths = []
    for first in sorted(ids[names[0]])[:3]:
        path = template
        for name in names:
            path = path.replace("{" + name + "}", first if name == names[0] else min(ids[name]))
        paths.append(path)
    return paths


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _query(operation: dict[str, Any], day: str, ids: dict[str, set[str]]) -> dict[str, str]:
    """A value for each required query parameter, as the document describes it."""
    params: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query" or not parameter.get("required"):
            continue
        name, schema = parameter["name"], parameter.get("schema", {})
        kind = schema.get("format")
        if name in ids:
            params[name] = min(ids[name])
        elif "enum" in schema:
            params[name] = str(schema["enum"][0])
        elif kind == "date":
            params[name] = day
        elif kind == "date-time":
            params[name] = f"{day}T08:00:00Z"
        elif name in ("month", "from", "to") or "month" in schema.get("description", "").lower():
            params[name] = day[:7] if name == "month" else day
        elif schema.get("type") == "integer":
            params[name] = str(schema.get("minimum", 1))
    return params


@pytest.mark.parametrize("role", list(ROLES))
async def test_no_get_writes_a_row(
    role: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    """Lists first (their ids fill the item paths), then every item path the role was shown."""
    day = (await load_the_demo(session, settings)).isoformat()
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": ROLES[role], "password": DEMO_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    gets = {
        template: operations["get"]
        for template, operations in paths.items()
        if "get" in operations and not template.endswith("/stream")
    }
    ids: dict[str, set[str]] = {}
    answered: dict[str, int] = {}
    with counting_queries(engine) as statements:
        for template in sorted(gets, key=lambda t: (len(PARAM.findall(t)), t)):
            names = PARAM.findall(template)
            if any(name not in ids for name in names):
                continue
            for path in _paths(template, names, ids):
                response = await client.get(
                    path, params=_query(gets[template], day, ids), headers=headers
                )
                assert response.status_code < 500, (template, response.status_code, response.text)
                answered[template] = response.status_code
                if response.status_code == 200:
                    break
            if response.headers.get("content-type", "").startswith("application/json"):
                _harvest(ids, template, response.json())
    writes = [s for s in statements if WRITES.match(s)]
    assert writes == [], writes
    ok = [t for t, status in answered.items() if status == 200]
    # Enough of the API was read for the claim to mean something.
    assert len(ok) >= {"admin": 40, "dispatcher": 36, "engineer": 18, "client": 9}[role], answered
