"""The JSON admin API: parse, authorize, one domain call, serialize. Errors are RFC 7807 problems.

Each route module adds its views to the one blueprint (``blueprint.bp``): the core resources, API clients,
webhooks, the v1 key migration, usage (activity CSV, scope suggestions). ``create_app`` registers it under ``/api``.
"""

from . import (  # noqa: F401  (their views join bp)
    client_routes,
    routes,
    service_event_routes,
    usage_routes,
    v1_key_routes,
    webhook_routes,
)
from .blueprint import bp

__all__ = ["bp"]
