"""How tokens are minted and how long they live: built once from config (services), handed to the token verbs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError
from .tokens import IntegrationTokenGenerator


@dataclass(frozen=True)
class TokenPolicy:
    """The generator that signs, the lifetime a token gets when none is asked for, and the server-wide maximum
    (an account's own maximum, and its agencies', bind too: ``lifetime``)."""

    generator: IntegrationTokenGenerator
    default_lifetime: int
    max_lifetime: int

    @classmethod
    def from_config(cls, generator: IntegrationTokenGenerator, config: Mapping[str, Any]) -> TokenPolicy:
        return cls(
            generator=generator,
            default_lifetime=config["AUTHSERVER_DEFAULT_TOKEN_LIFETIME"],
            max_lifetime=config["AUTHSERVER_MAX_TOKEN_LIFETIME"],
        )

    def lifetime(self, expires_in: int | None, account_maximums: list[int]) -> int:
        """Seconds a new token lives: ``expires_in`` if given and allowed, else the default, cut to the lowest
        maximum (the default is cut silently; an explicit ``expires_in`` beyond it is refused)."""
        ceiling = min([self.max_lifetime, *account_maximums])
        lifetime = self.default_lifetime if expires_in is None else expires_in
        if not isinstance(lifetime, int) or lifetime < 60:
            raise InvalidInputError("expires_in must be at least 1 minute", field="expires_in")
        if lifetime > ceiling:
            if expires_in is None:
                return ceiling
            raise InvalidInputError(
                f"expires_in exceeds the account's maximum of {ceiling} seconds", field="expires_in"
            )
        return lifetime
