"""The JSON admin API: parse, authorize, one domain call, serialize. Errors are RFC 7807 problems."""

from flask import Blueprint

bp = Blueprint("admin_api", __name__)

from . import routes  # noqa: E402,F401  (registers the routes on bp)
