"""Cross-cutting HTTP behaviour: request ids, security headers, and errors that never show a traceback."""

from __future__ import annotations

import itertools
import logging
import secrets
from io import BytesIO

from flask import current_app, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .admin_api.problems import problem
from .extensions import db
from .logs import loggable_path
from .metrics import count_database_error
from .process_id import current_pid

log = logging.getLogger("authserver")


class BoundedJSONProvider(DefaultJSONProvider):
    """Invalid input (400) rather than a crash (500) for JSON nested deeper than the parser's recursion limit, and
    for strings holding a lone UTF-16 surrogate (``"\\ud800"``), which no database or log line can encode."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        text = s if isinstance(s, str) else bytes(s).decode("utf-8", "replace")
        if "\\ud" in text.lower():
            _refuse_surrogates(value)
        return value


def _refuse_surrogates(value) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("JSON string holds a lone surrogate") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_surrogates(key)
            _refuse_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_surrogates(item)


_DATABASE_ERRORS = {
    "read_only": "the database is read-only",
    "disk_full": "the database's disk is full",
    "locked": "the database is locked by another writer",
    "unavailable": "the database is unavailable",
}


def database_error_kind(exc: SQLAlchemyError) -> str:
    """read_only, disk_full, locked or unavailable: the metrics label, and the key of the sentence we show."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "read-only" in text or "readonly" in text:
        return "read_only"
    if "disk is full" in text or "no space left" in text or "disk full" in text:
        return "disk_full"
    if "locked" in text or "lock timeout" in text or "canceling statement due to lock" in text:
        return "locked"
    return "unavailable"


def describe_database_error(exc: SQLAlchemyError) -> str:
    return _DATABASE_ERRORS[database_error_kind(exc)]


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie (flash messages), with its serializer built once per set of keys instead of on
    every request, which Flask's default does even for requests that carry no cookie."""

    _cached: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            cached = self._cached = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app, request):
        """Without a Cookie header there is no session to read: skip parsing the (absent) cookies, which walks
        every header of the request. Same result as Flask's: an empty session, or None without a secret key."""
        if "HTTP_COOKIE" not in request.environ:
            return None if self.get_signing_serializer(app) is None else self.session_class()
        return super().open_session(app, request)


def request_id_for(incoming: str | None) -> str:
    """The caller's X-Request-Id when it is a sane one (so its traces join ours), else a fresh id: unique, not
    secret, so a random per-process prefix and a counter (no system call for randomness per request)."""
    if incoming and len(incoming) <= 64 and incoming.isprintable():
        return incoming
    pid = current_pid()
    if _request_ids[0] != pid:  # first id in this process, or a forked child: a prefix of its own
        _request_ids[:] = [pid, secrets.token_hex(4), itertools.count(1)]
    return f"{_request_ids[1]}{next(_request_ids[2]):08x}"


_request_ids: list = [None, "", None]


def exception_headers(exc: HTTPException) -> dict[str, str]:
    """The headers werkzeug's exception carries besides its own body's Content-Type: ``Allow`` on a 405, which
    RFC 9110 section 15.5.6 requires; ``WWW-Authenticate`` or ``Retry-After`` where set. Every renderer of an
    HTTPException (JSON, problem, page) passes them on."""
    return {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}


# The admin pages' own policy (admin_ui/guard.py) for an error page drawn here: its stylesheet may load.
PAGE_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
JSON_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_page_url(exc: MethodNotAllowed) -> bool:
    """Whether a 405's path is one of the admin pages (a POST-only form target opened in the browser): routing
    failed before any blueprint was chosen, so ask the URL map which endpoint the path has for a method it allows."""
    methods = [method for method in exc.valid_methods or () if method not in ("HEAD", "OPTIONS")]
    if not methods:
        return False
    try:
        endpoint, _ = current_app.url_map.bind_to_environ(request.environ).match(method=methods[0])
    except HTTPException:
        return False
    return isinstance(endpoint, str) and endpoint.startswith("admin_ui.")


def has_body(environ: dict) -> bool:
    return bool(environ.get("HTTP_TRANSFER_ENCODING")) or (environ.get("CONTENT_LENGTH") or "0").strip() not in (
        "",
        "0",
    )


def is_json_type(mimetype: str) -> bool:
    """``application/json`` or a ``+json`` type (parameters such as ``charset`` are already stripped)."""
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


class BodyLimit:
    """WSGI: a request body without a declared length (``Transfer-Encoding: chunked``) is read here, at most one
    byte past ``MAX_CONTENT_LENGTH``, and handed on with its length declared, so an oversized one is refused with
    413 exactly as a declared ``Content-Length`` over the limit is. Left to werkzeug, such a body is cut at the
    limit and the truncated rest is parsed as if it were the whole request."""

    def __init__(self, wsgi_app, limit: int | None) -> None:
        self.wsgi_app, self.limit = wsgi_app, limit

    def __call__(self, environ: dict, start_response):
        if self.limit is not None and environ.get("HTTP_TRANSFER_ENCODING"):
            body = _read_at_most(environ["wsgi.input"], self.limit + 1)
            environ["wsgi.input"] = BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input_terminated"] = True
            del environ["HTTP_TRANSFER_ENCODING"]  # decoded by the server; its length is now declared
        return self.wsgi_app(environ, start_response)


def _read_at_most(stream, size: int) -> bytes:
    parts, total = [], 0
    while total < size:
        part = stream.read(min(65536, size - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def init_app(app) -> None:
    app.json = BoundedJSONProvider(app)
    app.wsgi_app = BodyLimit(app.wsgi_app, app.config.get("MAX_CONTENT_LENGTH"))

    @app.before_request
    def assign_request_id():
        g.request_id = request_id_for(request.headers.get("X-Request-Id"))

    @app.before_request
    def refuse_bodies_that_are_not_json():
        """The admin API reads JSON only: a form, multipart or text body would be read as no body at all (a rotate
        with ``grace=1h`` as a form rotated at once), so it is refused with 415 before any view runs."""
        if (
            request.method in JSON_WRITE_METHODS
            and request.path.startswith("/api/")
            and has_body(request.environ)
            and not is_json_type(request.mimetype)
        ):
            return problem(
                415,
                "Unsupported Media Type",
                f"send JSON: the body must be application/json, not {request.mimetype or 'untyped'}",
                code="unsupported_media_type",
                headers={"Accept": "application/json"},
            )
        return None

    app.session_interface = SessionCookies()

    @app.after_request
    def security_headers(response):
        """Each header unless the view set its own; one pass over the headers (``setdefault`` per name was
        a measurable share of an introspection)."""
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        if "x-request-id" not in present:
            headers.add("X-Request-Id", g.get("request_id", ""))
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        headers = exception_headers(exc)
        if request.path.startswith("/api/"):
            return problem(exc.code or 500, exc.name, exc.description, headers=headers)
        if isinstance(exc, MethodNotAllowed) and is_page_url(exc):
            page = render_template(
                "error.html",
                status=405,
                title=exc.name,
                detail="This address only takes a form sent from its page. Go back and use the button there.",
            )
            return page, 405, {**headers, "Content-Security-Policy": PAGE_SECURITY_POLICY, "Cache-Control": "no-store"}
        response = jsonify(error=exc.name.lower().replace(" ", "_"), error_description=exc.description)
        response.status_code = exc.code or 500
        response.headers.extend(headers)
        return response

    @app.errorhandler(SQLAlchemyError)
    def database_error(exc: SQLAlchemyError):
        """The database is away, locked, read-only or full: 503 with what happened, never a 500 or a traceback.
        The log names the kind only: the exception text carries SQL and its parameters."""
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass
        detail = describe_database_error(exc)
        count_database_error(database_error_kind(exc))
        log.warning("database error on %s %s: %s (%s)", request.method, request.path, detail, exc.__class__.__name__)
        if request.path.startswith("/api/"):
            return problem(
                503,
                "Service Unavailable",
                f"{detail}; nothing was changed, try again later",
                code="database_unavailable",
                headers={"Retry-After": "5"},
            )
        response = jsonify(error="temporarily_unavailable", error_description=detail)
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        request_id = g.get("request_id", "-")
        log.error(  # the traceback goes on the line (logs.JsonFormatter), token- and secret-shaped text withheld
            "unhandled %s on %s %s (request %s)",
            exc.__class__.__name__,
            request.method,
            loggable_path(request.path),
            request_id,
            exc_info=True,
        )
        try:
            db.session.rollback()
        except Exception:  # noqa: S110 - nothing more to do; the response below is what matters
            pass
        if request.path.startswith("/api/"):
            return problem(500, "Internal Server Error", f"unexpected error; request id {request_id}")
        response = jsonify(error="server_error", error_description=f"unexpected error; request id {request_id}")
        response.status_code = 500
        return response
