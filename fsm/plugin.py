"""What the fsm domains hand to the application: their routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from fsm.audit.controller import AuditController
from fsm.auth.controller import AuthController
from fsm.auth.users_controller import UserController
from fsm.clients.controller import ClientController
from fsm.engineers.controller import EngineerController
from fsm.engineers.on_call import OnCallController
from fsm.mailin.controller import InboundMailController
from fsm.notifications.controller import NotificationSettingsController
from fsm.sites.closures import SiteClosureController
from fsm.sites.controller import SiteController
from fsm.skills.controller import SkillController
from fsm.sla.controller import SlaController
from fsm.visits.absences import AbsenceController
from fsm.visits.controller import VisitController, WorkOrderTransitionController
from fsm.webhooks.controller import WebhookController
from fsm.workorders.controller import (
    CustomFieldController,
    ReplyTemplateController,
    WorkOrderController,
)


class FsmPlugin(InitPluginProtocol):
    """Sign-in, the back office's people and places, SLA, work orders and visits."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [
                AuthController,
                UserController,
                ClientController,
                SiteController,
                SiteClosureController,
                SkillController,
                EngineerController,
                AbsenceController,
                OnCallController,
                SlaController,
                WorkOrderController,
                CustomFieldController,
                ReplyTemplateController,
                AuditController,
                VisitController,
                WorkOrderTransitionController,
                InboundMailController,
                WebhookController,
                NotificationSettingsController,
            ]
        )
        return app_config
