"""The signature algorithms a DPoP proof (RFC 9449) may use here: what resource services accept and what the
authorization server advertises as ``dpop_signing_alg_values_supported``, from one list so the two never differ.

Asymmetric only (section 4.2: never ``none`` or a MAC), and only algorithms PyJWT verifies without extras."""

from __future__ import annotations

DPOP_SIGNING_ALGS: tuple[str, ...] = ("ES256", "ES384", "PS256", "RS256", "EdDSA")
