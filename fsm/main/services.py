"""The service graph of one unit of work: each service built once, with every collaborator.

This is the only place that decides which lookup, hooks and stores a service works with, so
the back office, both apps, the dispatcher and the jobs all run the same rules. Controllers
ask for a service by name (`work_orders`, `visits`, ...); the app provides it from here.
"""

from __future__ import annotations

from email.utils import parseaddr
from functools import cached_property
from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from checklists.hooks import ChecklistVisitHooks
from checklists.service import ChecklistService
from dispatch.service import DispatchService
from equipment.contracts.coverage import resolve_coverage
from fsm.auth.one_time import AccountMail
from fsm.auth.principal import Principal
from fsm.mailin.service import MailInService
from fsm.notifications.account_mail import SmtpAccountMail
from fsm.photos.service import PhotoService
from fsm.settings import Settings
from fsm.storage import ObjectStore
from fsm.visits.absences import AbsenceService
from fsm.visits.service import VisitService
from fsm.webhooks.service import WebhookService
from fsm.workorders.service import WorkOrderService
from mobile_api.client.requests import ClientRequestService
from mobile_api.engineer.service import EngineerApp


class Services:
    """Every service a request or job may need, sharing one session."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        *,
        object_store: ObjectStore | None = None,
    ) -> None:
        """`object_store` defaults to the one the settings name (made when photos are first
        used)."""
        self.session = session
        self.settings = settings
        self._object_store = object_store

    @cached_property
    def object_store(self) -> ObjectStore:
        return self._object_store or ObjectStore(self.settings.s3)

    @cached_property
    def work_orders(self) -> WorkOrderService:
        return WorkOrderService(self.session, self.settings.workorders, resolve_coverage)

    @cached_property
    def checklists(self) -> ChecklistService:
        return ChecklistService(self.session, self.work_orders)

    @cached_property
    def visits(self) -> VisitService:
        return VisitService(self.session, self.work_orders, ChecklistVisitHooks(self.checklists))

    @cached_property
    def absences(self) -> AbsenceService:
        return AbsenceService(self.session, self.visits)

    @cached_property
    def photos(self) -> PhotoService:
        return PhotoService(self.session, self.object_store, self.settings.photos)

    @cached_property
    def dispatch(self) -> DispatchService:
        return DispatchService(self.session, self.visits, self.settings.solver)

    @cached_property
    def engineer_app(self) -> EngineerApp:
        return EngineerApp(self.session, self.visits, self.checklists)

    @cached_property
    def mail_in(self) -> MailInService:
        # Mail out writes its Message-IDs at its sender's domain (fsm.notifications).
        sender_domain = parseaddr(self.settings.mail.from_address)[1].partition("@")[2]
        return MailInService(
            self.session,
            self.work_orders,
            self.photos,
            self.settings.mail_in,
            own_domain=sender_domain or "fieldline.local",
        )

    @cached_property
    def webhooks(self) -> WebhookService:
        return WebhookService(self.session, self.settings.webhooks)

    def client_requests(self, viewer: Principal) -> ClientRequestService:
        return ClientRequestService(
            self.session,
            self.work_orders,
            viewer=viewer,
            travel=self.settings.solver,
            photos=self.photos,
        )


def provide_services(db_session: NamedDependency[AsyncSession], state: State) -> Services:
    return Services(db_session, state.settings, object_store=state.object_store)


def _work_orders(services: NamedDependency[Services]) -> WorkOrderService:
    return services.work_orders


def _checklists(services: NamedDependency[Services]) -> ChecklistService:
    return services.checklists


def _visits(services: NamedDependency[Services]) -> VisitService:
    return services.visits


def _absences(services: NamedDependency[Services]) -> AbsenceService:
    return services.absences


def _photos(services: NamedDependency[Services]) -> PhotoService:
    return services.photos


def _dispatch(services: NamedDependency[Services]) -> DispatchService:
    return services.dispatch


def _engineer_app(services: NamedDependency[Services]) -> EngineerApp:
    return services.engineer_app


def _client_requests(
    services: NamedDependency[Services], principal: NamedDependency[Principal]
) -> ClientRequestService:
    return services.client_requests(principal)


def _mail_in(services: NamedDependency[Services]) -> MailInService:
    return services.mail_in


def _webhooks(services: NamedDependency[Services]) -> WebhookService:
    return services.webhooks


def _account_mail(state: State) -> AccountMail:
    return SmtpAccountMail(state.settings.mail)


def service_dependencies() -> dict[str, Any]:
    """The app-level dependencies every controller asks for by name."""
    return {
        "services": Provide(provide_services, sync_to_thread=False),
        "work_orders": Provide(_work_orders, sync_to_thread=False),
        "checklists": Provide(_checklists, sync_to_thread=False),
        "visits": Provide(_visits, sync_to_thread=False),
        "absences": Provide(_absences, sync_to_thread=False),
        "photos": Provide(_photos, sync_to_thread=False),
        "dispatch": Provide(_dispatch, sync_to_thread=False),
        "engineer_app": Provide(_engineer_app, sync_to_thread=False),
        "requests": Provide(_client_requests, sync_to_thread=False),
        "mail_in": Provide(_mail_in, sync_to_thread=False),
        "webhooks": Provide(_webhooks, sync_to_thread=False),
        "account_mail": Provide(_account_mail, sync_to_thread=False),
    }
