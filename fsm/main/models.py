"""Every table's model, imported in one place so metadata is complete (wiring only)."""

import checklists.models  # noqa: F401 - checklist templates, runs, answers, findings
import equipment.models  # noqa: F401 - equipment, contracts and service periods
from dispatch.models import DispatchPlan
from fsm.audit.models import AuditEntry
from fsm.auth.models import AuthSession, LoginThrottle
from fsm.auth.one_time import OneTimeToken
from fsm.clients.models import Client, ClientContact
from fsm.db import Base
from fsm.engineers.models import Engineer, EngineerOnCall, EngineerShift, engineer_skills
from fsm.mailin.models import InboundMail  # noqa: F401 - mail to the support address
from fsm.notifications.models import MailDelivery, NotificationPreference  # noqa: F401 - mail
from fsm.outbox import OutboxConsumer, OutboxEvent  # noqa: F401 - events to tell
from fsm.photos.models import Photo
from fsm.sites.models import Site
from fsm.skills.models import Skill
from fsm.sla.models import SlaCalendar, SlaPolicy
from fsm.users.models import User
from fsm.webhooks.models import WebhookAttempt  # noqa: F401 - endpoints, deliveries, attempts
from fsm.workorders.models import (
    Comment,
    CustomFieldDefinition,
    ReplyTemplate,
    SlaPause,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderEvent,
    WorkOrderRating,
    work_order_skills,
)
from fsm.workorders.visit_models import Visit, VisitStatusEvent, visit_skills
from mobile_api.engineer.models import EngineerChange  # noqa: F401 - engineer feed
from mobile_api.idempotency import IdempotencyKey  # noqa: F401 - replayable app writes
from reports.models import ReportLeftDay  # noqa: F401 - the reports' rollups

__all__ = [
    "AuditEntry",
    "AuthSession",
    "Base",
    "Client",
    "ClientContact",
    "Comment",
    "CustomFieldDefinition",
    "DispatchPlan",
    "Engineer",
    "EngineerOnCall",
    "EngineerShift",
    "LoginThrottle",
    "OneTimeToken",
    "Photo",
    "ReplyTemplate",
    "Site",
    "Skill",
    "SlaCalendar",
    "SlaPause",
    "SlaPolicy",
    "User",
    "Visit",
    "VisitStatusEvent",
    "WorkOrder",
    "WorkOrderCounter",
    "WorkOrderEvent",
    "WorkOrderRating",
    "engineer_skills",
    "visit_skills",
    "work_order_skills",
]
