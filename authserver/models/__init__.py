"""Tables only, one module per aggregate; behaviour lives in the domain modules.

Importing this package registers every table on ``db.metadata`` (the Alembic environment and the migration tests rely
on it), and ``from authserver.models import X`` works for every model. The table modules import only ``base`` and
``extensions``, never this package, so there is no cycle.
"""

from .accounts import Account, Membership, User
from .audit import AuditEvent
from .base import UTCDateTime
from .clients import ApiClient
from .instance import InstanceSetting
from .integrations import AccessToken, Integration, TokenUsageDaily
from .limit_counters import LimitCounter
from .signing_keys import SigningKey
from .token_events import TokenEvent
from .usage_by_service import TokenUsageByService
from .user_sessions import UserSession
from .v1keys import V1ApiKey, V1KeyUsage
from .webhooks import WebhookDelivery, WebhookEvent, WebhookSubscription

__all__ = [
    "AccessToken",
    "Account",
    "ApiClient",
    "AuditEvent",
    "InstanceSetting",
    "Integration",
    "LimitCounter",
    "Membership",
    "SigningKey",
    "TokenEvent",
    "TokenUsageByService",
    "TokenUsageDaily",
    "User",
    "UserSession",
    "UTCDateTime",
    "V1ApiKey",
    "V1KeyUsage",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
