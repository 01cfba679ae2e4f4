"""The migration report: per v1 key, when it was last used, which v1 routes it called and the v2 scopes those
calls need. The same computation decides what a migration grants, so the report is exactly what you get."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..accounts import allowed_scopes, get_account_for
from ..durations import isoformat
from ..principals import Principal
from .keys import list_keys, serialize_key, usage_of
from .route_scopes import scope_for


@dataclass(frozen=True)
class Needs:
    scopes: frozenset[str]
    unmapped_routes: tuple[str, ...]


def needs_of(key_id: str) -> Needs:
    scopes, unmapped = set(), []
    for usage in usage_of(key_id):
        scope = scope_for(usage.route)
        if scope is None:
            unmapped.append(usage.route)
        else:
            scopes.add(scope)
    return Needs(frozenset(scopes), tuple(unmapped))


def migration_report(principal: Principal, account_id: str, *, now: datetime) -> dict:
    account = get_account_for(principal, account_id)
    ceiling = allowed_scopes(account)
    keys = []
    for row in list_keys(principal, account.id):
        usage = usage_of(row.id)
        needs = needs_of(row.id)
        keys.append(
            serialize_key(row, now)
            | {
                "routes": [
                    {
                        "route": u.route,
                        "calls": u.count,
                        "first_used_at": isoformat(u.first_used_at),
                        "last_used_at": isoformat(u.last_used_at),
                        "scope": scope_for(u.route),
                    }
                    for u in usage
                ],
                "needed_scopes": sorted(needs.scopes),
                "unmapped_routes": list(needs.unmapped_routes),
                "beyond_account_ceiling": sorted(needs.scopes - ceiling),
            }
        )
    return {"account_id": account.id, "generated_at": isoformat(now), "keys": keys}
