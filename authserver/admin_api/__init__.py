"""The JSON admin API: parse, authorize, one domain call, serialize. Errors are RFC 7807 problems."""

from flask import Blueprint

bp = Blueprint("admin_api", __name__)

from . import routes  # noqa: E402,F401  (registers the routes on bp)
from . import v1_key_routes, webhook_routes  # noqa: E402,F401  (webhooks, v1 key migration)
