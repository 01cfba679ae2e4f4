"""One domain error tree. Each surface renders it once: RFC 7807 on the JSON API, messages in the CLI and UI."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid_input"
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInputError(DomainError):
    pass


class NotFoundError(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class ForbiddenError(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class ConflictError(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class UnauthenticatedError(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class SigningUnavailableError(DomainError):
    status = 503
    code = "signing_unavailable"
    title = "Signing key unavailable"


class RateLimitedError(DomainError):
    """Too many requests against one budget (limits/rates.py). ``retry_after`` is whole seconds: the surfaces send it
    as Retry-After (RFC 6585); the OAuth endpoints render the same refusal as oauth/server.py's
    TemporarilyUnavailableError."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
