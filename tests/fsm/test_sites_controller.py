"""Sites: points on the map, validation, distance search and client-user isolation."""

from __future__ import annotations

import math
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client
from fsm.geo import GeoPoint
from fsm.users.models import Role
from tests.factories import make_client, make_site
from tests.fsm.helpers import (
    assert_forbidden,
    assert_not_found,
    error_of,
    invalid_fields,
    signed_in,
    unknown_references,
)

SITES = "/api/v1/sites"
QUERY_POINT = GeoPoint(lat=52.52, lon=13.405)
ALEXANDERPLATZ = GeoPoint(lat=52.5219, lon=13.4132)
POTSDAM = GeoPoint(lat=52.3906, lon=13.0645)
HAMBURG = GeoPoint(lat=53.5511, lon=9.9937)


def _great_circle_km(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance on the mean Earth sphere."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _new_site(company: Client, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": str(company.id),
        "name": "Boiler room",
        "address": "Alexanderplatz 1",
        "city": "Berlin",
        "postal_code": "10178",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "location": {"lat": 52.5219, "lon": 13.4132},
        **overrides,
    }


async def _staff(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await signed_in(client, session, Role.DISPATCHER))[1]


async def _list(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(SITES, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCreateSite:
    async def test_site_reads_back_at_the_same_point(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        created = await client.post(SITES, json=_new_site(company), headers=headers)

        assert created.status_code == 201, created.text
        fetched = await client.get(f"{SITES}/{created.json()['id']}", headers=headers)
        assert fetched.status_code == 200, fetched.text
        body = fetched.json()
        assert body["location"] == {"lat": 52.5219, "lon": 13.4132}
        assert body["client_id"] == str(company.id)
        assert body["name"] == "Boiler room"
        assert body["timezone"] == "Europe/Berlin"
        assert body["distance_km"] is None

    async def test_opening_hours_are_kept_in_weekday_order(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)
        hours = [
            {"weekday": 4, "opens": "08:00", "closes": "14:00"},
            {"weekday": 0, "opens": "07:30", "closes": "17:00"},
        ]

        created = await client.post(
            SITES, json=_new_site(company, opening_hours=hours), headers=headers
        )

        assert created.status_code == 201, created.text
        assert created.json()["opening_hours"] == [hours[1], hours[0]]

    async def test_latitude_beyond_90_names_location_lat(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.post(
            SITES, json=_new_site(company, location={"lat": 91, "lon": 13}), headers=headers
        )

        assert invalid_fields(response) == ["location.lat"]
        assert error_of(response, 422)["code"] == "validation_error"

    async def test_longitude_below_minus_180_names_location_lon(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.post(
            SITES, json=_new_site(company, location={"lat": 52, "lon": -181}), headers=headers
        )

        assert invalid_fields(response) == ["location.lon"]

    async def test_unknown_timezone_names_timezone(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)

        response = await client.post(
            SITES, json=_new_site(company, timezone="Europe/Atlantis"), headers=headers
        )

        assert invalid_fields(response) == ["timezone"]
        assert "Europe/Atlantis" in error_of(response, 422)["message"]

    @pytest.mark.parametrize(("opens", "closes"), [("17:00", "08:00"), ("09:00", "09:00")])
    async def test_opening_hours_that_do_not_open_before_closing_are_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, opens: str, closes: str
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)
        hours = [{"weekday": 1, "opens": opens, "closes": closes}]

        response = await client.post(
            SITES, json=_new_site(company, opening_hours=hours), headers=headers
        )

        assert invalid_fields(response) == ["opening_hours[0]"]

    async def test_unknown_client_names_client_id(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        headers = await _staff(client, session)
        data = _new_site(company, client_id=str(uuid.uuid4()))

        response = await client.post(SITES, json=data, headers=headers)

        assert unknown_references(response) == ["client_id"]


class TestUpdateSite:
    async def test_staff_move_a_site(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session, at=ALEXANDERPLATZ, name="Moving")
        headers = await _staff(client, session)

        response = await client.patch(
            f"{SITES}/{site.id}",
            json={"location": {"lat": 52.3906, "lon": 13.0645}, "city": "Potsdam"},
            headers=headers,
        )

        assert response.status_code == 200, response.text
        assert response.json()["location"] == {"lat": 52.3906, "lon": 13.0645}
        assert response.json()["city"] == "Potsdam"
        assert response.json()["name"] == "Moving"

    async def test_unknown_timezone_is_refused_on_update(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        site = await make_site(session)
        headers = await _staff(client, session)

        response = await client.patch(
            f"{SITES}/{site.id}", json={"timezone": "Berlin"}, headers=headers
        )

        assert invalid_fields(response) == ["timezone"]
        fetched = await client.get(f"{SITES}/{site.id}", headers=headers)
        assert fetched.json()["timezone"] == "Europe/Berlin"


class TestListFilters:
    async def test_client_id_filter_keeps_that_clients_sites(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        mine = await make_site(session, client=company)
        await make_site(session)
        headers = await _staff(client, session)

        body = await _list(client, headers, client_id=str(company.id))

        assert [s["id"] for s in body["items"]] == [str(mine.id)]
        assert body["total"] == 1

    async def test_q_matches_a_substring_of_the_name_in_any_case(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await make_site(session, name="Hauptlager Nord")
        await make_site(session, name="Werkstatt Süd")
        headers = await _staff(client, session)

        body = await _list(client, headers, q="LAGER")

        assert [s["name"] for s in body["items"]] == ["Hauptlager Nord"]


class TestDistanceSearch:
    async def _three_cities(self, session: AsyncSession, company: Client | None = None) -> None:
        company = company or await make_client(session)
        await make_site(session, client=company, at=HAMBURG, name="Hamburg")
        await make_site(session, client=company, at=POTSDAM, name="Potsdam")
        await make_site(session, client=company, at=ALEXANDERPLATZ, name="Alexanderplatz")

    async def test_within_radius_lists_near_sites_nearest_first(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await self._three_cities(session)
        headers = await _staff(client, session)

        body = await _list(client, headers, near="52.52,13.405", within_km=30)

        assert [s["name"] for s in body["items"]] == ["Alexanderplatz", "Potsdam"]
        assert body["total"] == 2

    async def test_distances_are_roughly_right(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        await self._three_cities(session)
        headers = await _staff(client, session)

        body = await _list(client, headers, near="52.52,13.405", within_km=30)

        by_name = {s["name"]: s["distance_km"] for s in body["items"]}
        for name, point in (("Alexanderplatz", ALEXANDERPLATZ), ("Potsdam", POTSDAM)):
            expected = _great_circle_km(QUERY_POINT, point)
            assert by_name[name] == pytest.approx(expected, rel=0.02)
        assert 20 < by_name["Potsdam"] < 30

    async def test_without_radius_every_site_comes_nearest_first(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        company = await make_client(session)
        await self._three_cities(session, company)
        headers = await _staff(client, session)

        body = await _list(client, headers, near="52.52,13.405", client_id=str(company.id))

        assert [s["name"] for s in body["items"]] == ["Alexanderplatz", "Potsdam", "Hamburg"]
        hamburg = body["items"][2]["distance_km"]
        assert hamburg == pytest.approx(_great_circle_km(QUERY_POINT, HAMBURG), rel=0.02)

    @pytest.mark.parametrize("near", ["berlin", "52.52", "52.52,13.405,7", "91,13", "52,181"])
    async def test_malformed_near_names_near(
        self, client: httpx.AsyncClient, session: AsyncSession, near: str
    ) -> None:
        headers = await _staff(client, session)

        response = await client.get(SITES, params={"near": near}, headers=headers)

        assert invalid_fields(response) == ["near"]

    async def test_within_km_without_near_names_within_km(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        headers = await _staff(client, session)

        response = await client.get(SITES, params={"within_km": 30}, headers=headers)

        assert invalid_fields(response) == ["within_km"]
        assert "near" in error_of(response, 422)["message"]

    @pytest.mark.parametrize("within_km", [0, -5, 1001])
    async def test_within_km_out_of_range_names_within_km(
        self, client: httpx.AsyncClient, session: AsyncSession, within_km: float
    ) -> None:
        headers = await _staff(client, session)

        response = await client.get(
            SITES, params={"near": "52.52,13.405", "within_km": within_km}, headers=headers
        )

        assert invalid_fields(response) == ["within_km"]


class TestSpatialIndex:
    async def test_distance_query_uses_the_geography_index(self, session: AsyncSession) -> None:
        company = await make_client(session)
        for n in range(20):
            await make_site(session, client=company, at=GeoPoint(lat=50 + n * 0.1, lon=10.0))
        await session.execute(text("SET LOCAL enable_seqscan = off"))

        # The shape SiteService.list sends for `near` with `within_km`.
        plan = await session.execute(
            text(
                "EXPLAIN SELECT sites.id FROM sites"
                " WHERE ST_DWithin(geography(sites.location),"
                " geography(ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326)), 30000.0)"
                " ORDER BY geography(sites.location)"
                " <-> geography(ST_SetSRID(ST_MakePoint(13.405, 52.52), 4326)), sites.id"
                " LIMIT 50"
            )
        )

        lines = "\n".join(row[0] for row in plan)
        assert "ix_sites_location_geography" in lines, lines


class TestClientUsersUseTheClientApp:
    async def test_even_the_own_sites_are_forbidden(
        self, client: httpx.AsyncClient, session: AsyncSession
    ) -> None:
        own = await make_client(session)
        own_site = await make_site(session, client=own, at=POTSDAM, name="Own Site")
        _, headers = await signed_in(client, session, Role.CLIENT, of_client=own)

        for response in (
            await client.get(SITES, headers=headers),
            await client.get(f"{SITES}/{own_site.id}", headers=headers),
            await client.post(SITES, json=_new_site(own), headers=headers),
            await client.patch(f"{SITES}/{own_site.id}", json={"name": "X"}, headers=headers),
        ):
            assert_forbidden(response)
            assert "Own Site" not in response.text


class TestEngineersSeeNoSitesHere:
    async def test_list_is_empty(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        await make_site(session, name="Somewhere")
        _, headers = await signed_in(client, session, Role.ENGINEER)

        body = await _list(client, headers)

        assert body["items"] == []
        assert body["total"] == 0

    async def test_get_is_not_found(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        site = await make_site(session, name="Somewhere")
        _, headers = await signed_in(client, session, Role.ENGINEER)

        response = await client.get(f"{SITES}/{site.id}", headers=headers)

        assert assert_not_found(response)["code"] == "site_not_found"
        assert "Somewhere" not in response.text
