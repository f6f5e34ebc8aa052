"""The data model: one module per aggregate. Importing this package registers every table."""

from nurture_ui.models.activity import NURTURE_ACTIVITY_TYPES, Activity
from nurture_ui.models.enrollment import ENROLLMENT_STATUSES, LIVE_STATUSES, Enrollment
from nurture_ui.models.holiday import TenantHoliday
from nurture_ui.models.inbound import ApiCredential, ApiNonce, InboundEvent
from nurture_ui.models.lead import LEAD_STATUSES, REPLY_SENTIMENTS, SCORE_BANDS, Lead, LeadReply
from nurture_ui.models.lead_import import IMPORT_STATUSES, LeadImport
from nurture_ui.models.mailbox import INBOUND_KINDS, InboundMail, Mailbox
from nurture_ui.models.message import MESSAGE_STATUSES, OutboundMessage
from nurture_ui.models.sequence import (
    DEFAULT_EXIT_RULES,
    DELAY_UNITS,
    SEQUENCE_STATUSES,
    STEP_CHANNELS,
    Sequence,
    SequenceStep,
)
from nurture_ui.models.task import CALL_OUTCOMES, TASK_KINDS, TASK_STATUSES, Task
from nurture_ui.models.template import EmailTemplate
from nurture_ui.models.tenant import DEFAULT_POLICY, Tenant
from nurture_ui.models.user import ROLES, User

__all__ = [
    "CALL_OUTCOMES",
    "DEFAULT_EXIT_RULES",
    "DELAY_UNITS",
    "DEFAULT_POLICY",
    "ENROLLMENT_STATUSES",
    "IMPORT_STATUSES",
    "INBOUND_KINDS",
    "LEAD_STATUSES",
    "LIVE_STATUSES",
    "MESSAGE_STATUSES",
    "NURTURE_ACTIVITY_TYPES",
    "REPLY_SENTIMENTS",
    "ROLES",
    "SCORE_BANDS",
    "SEQUENCE_STATUSES",
    "STEP_CHANNELS",
    "TASK_KINDS",
    "TASK_STATUSES",
    "Activity",
    "ApiCredential",
    "ApiNonce",
    "EmailTemplate",
    "Enrollment",
    "InboundEvent",
    "InboundMail",
    "Lead",
    "LeadImport",
    "LeadReply",
    "Mailbox",
    "OutboundMessage",
    "Sequence",
    "SequenceStep",
    "Task",
    "Tenant",
    "TenantHoliday",
    "User",
]
