"""Every table's model, imported in one place so metadata is complete (wiring only)."""

from fsm.auth.models import AuthSession, LoginThrottle
from fsm.clients.models import Client, ClientContact
from fsm.db import Base
from fsm.engineers.models import Engineer, EngineerShift, engineer_skills
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.users.models import User

__all__ = [
    "AuthSession",
    "Base",
    "Client",
    "ClientContact",
    "Engineer",
    "EngineerShift",
    "LoginThrottle",
    "Site",
    "Skill",
    "User",
    "engineer_skills",
]
