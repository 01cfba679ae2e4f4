"""The JSON admin API: parse, authorize, one domain call, serialize. Errors are RFC 7807 problems.

Each route module adds its views to the one blueprint (``blueprint.bp``): the core resources, API clients,
webhooks, the v1 key migration. ``create_app`` registers it under ``/api``.
"""

from . import client_routes, routes, v1_key_routes, webhook_routes  # noqa: F401  (their views join bp)
from .blueprint import bp

__all__ = ["bp"]
