"""Demo data: a city (Berlin) with clients, sites, skills and engineers, seeded and repeatable."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fsm.clients.models import Client, ClientContact
from fsm.engineers.models import Engineer, EngineerShift
from fsm.geo import GeoPoint, to_db_point
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.users.models import Role, User
from fsm.users.passwords import hash_password

DEMO_PASSWORD = "fieldline-demo"
DEMO_DOMAIN = "demo.fieldline.dev"

CITY_CENTRE = GeoPoint(lat=52.5200, lon=13.4050)
CITY_TIMEZONE = "Europe/Berlin"

SKILLS = {
    "lift": "Passenger lifts",
    "escalator": "Escalators",
    "hvac": "Heating, ventilation, air conditioning",
    "refrigeration": "Commercial refrigeration",
    "electrical": "Electrical installations",
    "fire-safety": "Fire alarms and sprinklers",
    "medical-imaging": "Medical imaging devices",
    "it-hardware": "Servers and network hardware",
}

_COMPANY_WORDS = (
    ("Spree", "Havel", "Tegel", "Mitte", "Nord", "Ost", "Kreuzberg", "Pankow", "Adler", "Linden"),
    ("Kliniken", "Logistik", "Immobilien", "Hotels", "Rechenzentren", "Markt", "Werke", "Büro"),
    ("GmbH", "AG", "KG", "SE"),
)
_STREETS = (
    "Friedrichstraße",
    "Karl-Marx-Allee",
    "Kurfürstendamm",
    "Torstraße",
    "Schönhauser Allee",
    "Sonnenallee",
    "Müllerstraße",
    "Landsberger Allee",
    "Hermannstraße",
    "Invalidenstraße",
)
_FIRST = (
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Felix",
    "Greta",
    "Hakan",
    "Ines",
    "Jonas",
    "Katrin",
    "Lukas",
    "Mira",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sami",
)
_LAST = (
    "Schmidt",
    "Yilmaz",
    "Müller",
    "Nowak",
    "Weber",
    "Fischer",
    "Kaya",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schulz",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo loader created (zero everywhere when data was already there)."""

    clients: int
    sites: int
    engineers: int
    logins: dict[str, str]


def _jitter(rng: random.Random, centre: GeoPoint, km: float) -> GeoPoint:
    # About 111 km per degree of latitude; longitude degrees shrink with cos(latitude).
    return GeoPoint(
        lat=round(centre.lat + rng.uniform(-km, km) / 111.0, 6),
        lon=round(centre.lon + rng.uniform(-km, km) / 68.0, 6),
    )


async def load_demo(
    session: AsyncSession, *, seed: int = 7, only_into_empty: bool = True
) -> DemoSummary:
    """Fill an empty database with the demo city; do nothing when clients exist already.

    Tests pass `only_into_empty=False` to load it beside the data of other tests.
    """
    logins = {
        "admin": f"admin@{DEMO_DOMAIN}",
        "dispatcher": f"dispatch@{DEMO_DOMAIN}",
        "engineer": f"engineer1@{DEMO_DOMAIN}",
        "client": f"client@{DEMO_DOMAIN}",
    }
    if only_into_empty and await session.scalar(select(func.count()).select_from(Client)):
        return DemoSummary(clients=0, sites=0, engineers=0, logins=logins)
    rng = random.Random(seed)  # noqa: S311 - repeatable demo data, not secrets
    password_hash = hash_password(DEMO_PASSWORD)

    skills = {code: Skill(code=code, name=name) for code, name in SKILLS.items()}
    session.add_all(skills.values())

    clients: list[Client] = []
    sites: list[Site] = []
    for n in range(20):
        a, b, c = (rng.choice(words) for words in _COMPANY_WORDS)
        client = Client(
            id=uuid.uuid4(),
            name=f"{a} {b} {c}" if n else "Spree Kliniken GmbH",
            tax_id=f"DE{300000000 + n * 7919}",
            email=f"service@client{n + 1}.{DEMO_DOMAIN}",
            phone=f"+49 30 {rng.randint(1000000, 9999999)}",
            notes="Pays late; call the facility manager first." if n % 5 == 0 else None,
            timezone=CITY_TIMEZONE,
            contacts=[
                ClientContact(
                    name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    position="Facility manager",
                    email=f"facility@client{n + 1}.{DEMO_DOMAIN}",
                    phone=f"+49 170 {rng.randint(1000000, 9999999)}",
                    is_primary=True,
                )
            ],
        )
        clients.append(client)
        for s in range(3):
            point = _jitter(rng, CITY_CENTRE, 12)
            sites.append(
                Site(
                    client_id=client.id,
                    name=f"{client.name.split()[0]} {['Hauptsitz', 'Lager', 'Filiale'][s]}",
                    address=f"{rng.choice(_STREETS)} {rng.randint(1, 200)}",
                    city="Berlin",
                    postal_code=f"1{rng.randint(100, 999)}{rng.randint(0, 9)}",
                    country="DE",
                    timezone=CITY_TIMEZONE,
                    location=to_db_point(point),
                    access_notes="Report to the gatehouse; lift keys at reception."
                    if s == 0
                    else None,
                    opening_hours=[
                        {"weekday": d, "opens": "07:00", "closes": "19:00"} for d in range(5)
                    ]
                    + ([{"weekday": 5, "opens": "08:00", "closes": "14:00"}] if s == 2 else []),
                )
            )
    session.add_all(clients)
    session.add_all(sites)

    session.add_all(
        [
            User(
                email=logins["admin"],
                full_name="Ada Admin",
                password_hash=password_hash,
                role=Role.ADMIN,
            ),
            User(
                email=logins["dispatcher"],
                full_name="Dana Dispatcher",
                password_hash=password_hash,
                role=Role.DISPATCHER,
            ),
            User(
                email=logins["client"],
                full_name="Carl Client",
                password_hash=password_hash,
                role=Role.CLIENT,
                client_id=clients[0].id,
                # Manages his company's users in the client app (/mobile/v1/client/users).
                is_client_admin=True,
            ),
        ]
    )
    codes = list(skills)
    engineers = []
    for n in range(15):
        user = User(
            email=f"engineer{n + 1}@{DEMO_DOMAIN}",
            full_name=f"{_FIRST[n % len(_FIRST)]} {_LAST[(n * 7) % len(_LAST)]}",
            password_hash=password_hash,
            role=Role.ENGINEER,
        )
        held = sorted(rng.sample(codes, k=rng.randint(1, 3)))
        early = n % 3 == 0
        engineers.append(
            Engineer(
                user=user,
                phone=f"+49 171 {rng.randint(1000000, 9999999)}",
                timezone=CITY_TIMEZONE,
                home_base=to_db_point(_jitter(rng, CITY_CENTRE, 15)),
                max_visits_per_day=rng.choice([5, 6, 8]),
                skills=[skills[c] for c in held],
                shifts=[
                    EngineerShift(
                        weekday=d,
                        starts_at=time(6 if early else 8),
                        ends_at=time(15 if early else 17),
                    )
                    for d in range(5)
                ],
            )
        )
    session.add_all(engineers)
    await session.flush()
    return DemoSummary(
        clients=len(clients), sites=len(sites), engineers=len(engineers), logins=logins
    )
