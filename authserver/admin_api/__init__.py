"""The JSON admin API: parse, authorize, one domain call, serialize. Errors are RFC 7807 problems."""

from flask import Blueprint

bp = Blueprint("admin_api", __name__)

# Each module registers its routes on bp: the core resources, API clients, webhooks, the v1 key migration.
from . import client_routes, routes, v1_key_routes, webhook_routes  # noqa: E402,F401
