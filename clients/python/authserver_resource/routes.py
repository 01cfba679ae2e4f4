"""Route rules: which scope a request needs, for the gate and the WSGI/ASGI middlewares.

One rule a line, ``METHOD PATH-PREFIX SCOPE``; ``*`` for any method; ``-`` as the scope means a valid token is
enough; ``#`` starts a comment. Prefixes match whole path segments (``/v2/contacts`` matches ``/v2/contacts`` and
``/v2/contacts/42``, never ``/v2/contactsx``); the first matching rule wins. A request that no rule matches is
refused, and so is a path whose meaning a proxy and an upstream could read differently (dot segments, empty
segments, encoded slashes, dots or backslashes): a forgotten route or a crafted path fails closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANY_METHOD = "*"
NO_SCOPE = "-"
_METHOD = re.compile(r"[A-Z]+|\*")
_SCOPE = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 6749 section 3.3 scope-token
_AMBIGUOUS = re.compile(r"%(2e|2f|5c|00)|\\|//|/\.\.?(/|$)", re.IGNORECASE)


class RoutesError(ValueError):
    """A routes file the gate must not start with: the line number and what is wrong."""


@dataclass(frozen=True)
class Rule:
    method: str
    prefix: str
    scope: str | None  # None: a valid token is enough

    def matches(self, method: str, path: str) -> bool:
        if self.method != ANY_METHOD and self.method != method:
            return False
        if self.prefix == "/":
            return True
        return path == self.prefix or path.startswith(self.prefix + "/")


class NoRule:
    """The marker ``RouteTable.scope_for`` answers for a request no rule allows."""


NO_RULE = NoRule()


class RouteTable:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    @classmethod
    def parse(cls, text: str) -> RouteTable:
        rules = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 3:
                raise RoutesError(f"line {number}: expected METHOD PATH-PREFIX SCOPE")
            method, prefix, scope = fields
            if not _METHOD.fullmatch(method):
                raise RoutesError(f"line {number}: the method must be upper case, or *")
            if not prefix.startswith("/") or _AMBIGUOUS.search(prefix):
                raise RoutesError(f"line {number}: the path prefix must start with / and have no dot segments")
            if scope != NO_SCOPE and not _SCOPE.fullmatch(scope):
                raise RoutesError(f"line {number}: {scope!r} is not a scope")
            rules.append(Rule(method, prefix.rstrip("/") or "/", None if scope == NO_SCOPE else scope))
        return cls(rules)

    @classmethod
    def load(cls, path: str) -> RouteTable:
        with open(path, encoding="utf-8") as handle:
            return cls.parse(handle.read())

    def scope_for(self, method: str, uri: str) -> str | None | NoRule:
        """The scope the request needs (None: any valid token), or ``NO_RULE`` when it must be refused."""
        path = uri.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/") or _AMBIGUOUS.search(path):
            return NO_RULE
        for rule in self.rules:
            if rule.matches(method.upper(), path):
                return rule.scope
        return NO_RULE

    def scopes(self) -> set[str]:
        return {rule.scope for rule in self.rules if rule.scope}
