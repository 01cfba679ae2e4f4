"""Who is asking: the one shape every surface hands to the domain."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and the accounts it may administer or only view.

    ``kind`` is one of: user, admin_client, token_holder, operator (the CLI on the server), system (jobs).
    """

    kind: str
    id: str | None
    admin_of: frozenset[str] = field(default_factory=frozenset)
    member_of: frozenset[str] = field(default_factory=frozenset)
    source_address: str | None = None
    # The caller's own account: where its refused attempts on other accounts are audited (domain_events.Refusal).
    account_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.kind in ("operator", "system")

    def can_administer(self, account_id: str) -> bool:
        return self.is_operator or account_id in self.admin_of

    def can_view(self, account_id: str) -> bool:
        return self.can_administer(account_id) or account_id in self.member_of


OPERATOR = Principal(kind="operator", id="cli")
SYSTEM = Principal(kind="system", id="system")
