"""Checking a v1 key at the authorization server (``POST /oauth/v1-keys/check``), as this resource service.

No caching: v1 traffic is legacy and small, and the authorization server must see every call to report which
routes a key needs and when it was last used; the end of a migration's overlap then also takes effect at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import requests

CHECK_PATH = "/oauth/v1-keys/check"
_local = threading.local()


class CheckUnavailableError(Exception):
    """No trustworthy answer: the v1 call fails closed."""


@dataclass(frozen=True)
class V1Grant:
    key_id: str
    account_id: str
    stops_at: datetime | None


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = "resource_demo/0.1 (v1)"
    return session


def check_key(config: dict, key: str, route: str) -> V1Grant | None:
    """The key's grant, or None if it is not a usable v1 key right now."""
    try:
        response = _session().post(
            config["AUTHSERVER_URL"] + CHECK_PATH,
            data={"key": key, "route": route},
            auth=(config["RESOURCE_DEMO_CLIENT_ID"], config["RESOURCE_DEMO_CLIENT_SECRET"]),
            timeout=config["RESOURCE_DEMO_HTTP_TIMEOUT"],
            allow_redirects=False,
        )
        body = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
        raise CheckUnavailableError("the authorization server could not check the v1 key")
    if not body["active"]:
        return None
    stops_at = body.get("stops_at")
    return V1Grant(
        key_id=body["key_id"],
        account_id=body["account_id"],
        stops_at=datetime.fromisoformat(stops_at.replace("Z", "+00:00")) if stops_at else None,
    )
