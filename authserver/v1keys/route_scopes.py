"""Which v2 scope each v1 route needs: the rule the migration report and the migration apply.

Resource services report the route *template* a v1 key called (``GET /v1/contacts/{id}``). The first path segment
names the resource of the v2 scope catalogue; reads (GET, HEAD) need ``<resource>.readonly``, anything else
``<resource>.write``. A route outside the catalogue is reported as unmapped, never guessed.
"""

from __future__ import annotations

import re

from ..errors import InvalidInputError
from ..scopes import CATALOGUE

_ROUTE = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE) (/v1(?:/[A-Za-z0-9_{}.-]+)+)$")
READ_METHODS = ("GET", "HEAD")


def parse_route(value: object) -> str:
    """A route template as a resource service reports it: ``METHOD /v1/...``."""
    if not isinstance(value, str) or len(value) > 120 or not _ROUTE.match(value):
        raise InvalidInputError("route must look like 'GET /v1/contacts/{id}'", field="route")
    return value


def scope_for(route: str) -> str | None:
    match = _ROUTE.match(route)
    if match is None:
        return None
    method, path = match.groups()
    resource = path.split("/")[2]
    if resource not in CATALOGUE:
        return None
    return f"{resource}.readonly" if method in READ_METHODS else f"{resource}.write"
