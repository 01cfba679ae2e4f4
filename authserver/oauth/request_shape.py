"""The shape of a request to the form-encoded protocol endpoints, checked before any client is authenticated or
token looked up, on the Flask route and the direct introspection path alike (both build the same authlib request).

RFC 7662 section 2.1 and RFC 7009 section 2.1 send the parameters as ``application/x-www-form-urlencoded``; RFC 6749
section 3.1: "Request and response parameters MUST NOT be included more than once". A second ``token`` or
``client_secret`` is an ambiguity the two readers of a request (a proxy, a cache, us) could settle differently, so
it is refused (400 ``invalid_request``), never resolved by first-value-wins.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError

FORM = "application/x-www-form-urlencoded"
_NAMED = frozenset({"token", "token_type_hint", "client_id", "client_secret"})  # named back; others are not echoed


def check_form_request(request) -> None:
    """Raise ``invalid_request`` unless the body is a urlencoded form with each parameter at most once."""
    content_type = request.headers.get("Content-Type") or ""
    if content_type.partition(";")[0].strip().lower() != FORM and not _is_bodiless(request, content_type):
        raise InvalidRequestError(description=f"send the parameters as {FORM}")
    repeated = sorted(name for name, values in request.form.lists() if len(values) > 1)
    if repeated:
        named = [name for name in repeated if name in _NAMED]
        raise InvalidRequestError(
            description=f"parameters must not be repeated: {', '.join(named)}"
            if named
            else "parameters must not be repeated"
        )


def _is_bodiless(request, content_type: str) -> bool:
    """A POST with no body and no type carries no parameters to misread: it goes on to client authentication
    (401 ``invalid_client`` for a caller with no credentials), as an empty form would."""
    headers = request.headers
    return not content_type and headers.get("Content-Length", "0") == "0" and "Transfer-Encoding" not in headers


class FormRequestShape:
    """Mixin for authlib's introspection and revocation endpoints: the shape is checked first, before the client
    is authenticated (a repeated ``client_secret`` is as ambiguous as a repeated ``token``)."""

    def authenticate_endpoint_client(self, request):
        check_form_request(request)
        return super().authenticate_endpoint_client(request)
