"""RFC 9728 protected-resource metadata: the document that makes a service self-describing, and where it lives.

The well-known URI is formed from the resource identifier as section 3.1 says: ``/.well-known/oauth-protected-resource``
is inserted between the host and the path, so ``https://api.example.com`` publishes at
``/.well-known/oauth-protected-resource`` and ``https://api.example.com/v2`` at
``/.well-known/oauth-protected-resource/v2``. Every face serves it, and every 401 challenge points at it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .dpop_algorithms import DPOP_SIGNING_ALGS

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_path(resource: str) -> str:
    """The path part of the well-known URI (section 3.1); a trailing slash of the resource is not kept."""
    path = urlsplit(resource).path.rstrip("/")
    return WELL_KNOWN + path


def metadata_url(resource: str) -> str:
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, metadata_path(resource), "", ""))


def metadata_document(*, resource: str, issuer: str, scopes: set[str] | frozenset[str] | tuple[str, ...]) -> dict:
    """Section 2: the resource, the one authorization server that issues its tokens, the scopes it checks, the
    one way it accepts a token (the Authorization header, RFC 6750 section 2.1), and the DPoP proof algorithms it
    verifies for key-bound tokens (RFC 9449)."""
    return {
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": sorted(scopes),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(DPOP_SIGNING_ALGS),
    }
