"""RFC 7638 JWK thumbprints, shared by the server (registering the key an integration is bound to) and resource
services (the key of a DPoP proof), so that one key has one ``jkt`` on both sides."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

# Section 3.2: the required members of each key type, the only ones hashed.
REQUIRED_MEMBERS: dict[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
# RFC 7518 sections 6.2.2, 6.3.2 and 6.4, RFC 8037 section 2: members only a private or symmetric key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def thumbprint(jwk: Mapping[str, object]) -> str:
    """Section 3: base64url(SHA-256) of the key type's required members, sorted, without whitespace. The caller has
    checked that they are present and text."""
    members = {name: jwk[name] for name in REQUIRED_MEMBERS[str(jwk["kty"])]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
