"""/v1: the legacy API, kept so there is something real to migrate away from.

Callers present a v1 API key (``Authorization: Bearer v1_...``): unscoped, full access to its account. Each call
is checked at the authorization server, which also learns which v1 route the key used (the migration report is
built from it). Every v1 response says it is going away: ``Deprecation`` (RFC 9745), ``Sunset`` (RFC 8594; the
key's own end once it was migrated) and a ``Link`` to the successor version.
"""

from flask import Blueprint

bp = Blueprint("v1", __name__)

from . import routes  # noqa: E402,F401  (routes and the key check register on bp)
