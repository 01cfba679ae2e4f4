"""Introspection served straight from WSGI: the endpoint every v2 call reaches, without Flask's request machinery.

The protocol is still authlib's: the request becomes an authlib ``OAuth2Request`` and the registered
``TokenIntrospectionEndpoint`` authenticates the client, checks the parameters, looks the token up and writes the
answer, exactly as through the Flask route. What is skipped is the per-request cost around it (request and
response objects, URL routing, hook chains), measured in docs/performance.md as most of an introspection's time.
The cross-cutting behaviour is kept, from the same functions the Flask app uses: request id, security headers,
access log line, metrics, 503 on database errors, a 500 without a traceback on anything unexpected.

Only the request shape every resource service sends is served here: ``POST /oauth/introspect`` with a
``application/x-www-form-urlencoded`` body of known, modest length. Anything else (another content type, chunked
or oversized bodies, undecodable bytes) goes on to the Flask route, whose answers are the reference.

The gate's step-out travels on the request it builds (``wait``), and every layer below passes it on as an argument
to what blocks; the answer's result goes to metrics from the returned body. authlib internals relied on here are
listed, with the tests that catch their change, in hotpath/README.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from http import HTTPStatus
from io import BytesIO
from urllib.parse import parse_qsl

from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import current_app, g, has_app_context
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import EnvironHeaders, ImmutableMultiDict

from ..httpbase import SECURITY_HEADERS, request_id_for
from ..logs import log_access
from ..metrics import observe_introspection
from ..oauth.introspection import introspection_result
from ..oauth.signed_introspection import signed_answer
from ..oauth.views import token_store_unavailable
from ..services import services
from ..trace_context import parse_traceparent
from .fair_gate import FairGate, WaitHook
from .introspection_prefetch import prefetched_introspection_reads
from .prepared_reads import serving_prefetched

log = logging.getLogger("authserver")

PATH = "/oauth/introspect"
FORM = "application/x-www-form-urlencoded"
MAX_DIRECT_BODY = 16 * 1024  # a token is at most 8 KiB; anything larger is left to the Flask route's limits
_REASONS = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
_ENCODE_COMPACT = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(separators=...) builds one per call


class _Headers(EnvironHeaders):
    """werkzeug's headers of an environ, with ``get`` answered by one dictionary read: the environ key of a header
    name is worked out once per name (werkzeug's rule: upper case, ``-`` to ``_``, ``HTTP_`` before all but
    Content-Type and Content-Length), and a header that is absent gives the default without raising and catching
    a KeyError. The request's headers are read about ten times per introspection, by authlib and by us."""

    _environ_keys: dict[str, str] = {}

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        if type is not None or not isinstance(key, str):
            return super().get(key, default, type)
        environ_key = self._environ_keys.get(key)
        if environ_key is None:
            environ_key = key.upper().replace("-", "_")
            if environ_key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ_key = f"HTTP_{environ_key}"
            if len(self._environ_keys) < 256:  # names come from our code and authlib's, never from the caller
                self._environ_keys[key] = environ_key
        return self.environ.get(environ_key, default)


class _Form(ImmutableMultiDict):
    """The request's form, with ``get`` of an absent field giving the default without werkzeug constructing,
    raising and catching a ``BadRequestKeyError`` (an HTTPException) on the way: authlib and our server ask for
    fields a resource service does not send (``client_secret``, ``token_type_hint``) on every introspection."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        if type is not None:
            return super().get(key, default, type)
        values = dict.get(self, key)
        return values[0] if values else default


class WsgiOAuth2Request(OAuth2Request):
    """authlib's request, built from the WSGI environ: headers read lazily and case-insensitively (as Flask's),
    the form parsed as werkzeug parses it (a repeated field keeps every value, and is refused as on the Flask
    route: ``request_shape``). It carries what our server reads of every request: ``wait`` (the gate's step-out)
    and ``remote_addr``.

    authlib's constructor checks the URL's transport (HTTPS, or plain HTTP on loopback) by parsing it; the URL is
    the same on every request to one host, so the constructor runs once per accepted URL and later requests start
    from a copy of that instance. A refused URL is checked (and refused) again every time."""

    _accepted: dict[str, WsgiOAuth2Request] = {}

    @classmethod
    def from_environ(cls, environ: dict, uri: str, form: ImmutableMultiDict, wait: WaitHook) -> WsgiOAuth2Request:
        template = cls._accepted.get(uri)
        if template is None:
            template = cls.__new__(cls)
            OAuth2Request.__init__(template, "POST", uri)  # raises InsecureTransportError for a refused URL
            if len(cls._accepted) < 64:  # Host is the caller's choice: a flood of names only loses the shortcut
                cls._accepted[uri] = template
        request = cls.__new__(cls)
        request.__dict__.update(template.__dict__)
        request.method = environ["REQUEST_METHOD"]
        request.headers = _Headers(environ)
        request._form = form
        request.payload = BasicOAuth2Payload(form)
        request.wait, request.remote_addr = wait, environ.get("REMOTE_ADDR")
        return request

    @property
    def form(self):
        return self._form

    @property
    def args(self):
        return ImmutableMultiDict()


class DirectIntrospection:
    """WSGI middleware in front of the Flask app: answers introspection requests itself, passes the rest on."""

    def __init__(self, wsgi_app: Callable, flask_app) -> None:
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.gate = FairGate(1)  # one introspection's Python work at a time, in arrival order (see fair_gate)
        self.max_body = min(MAX_DIRECT_BODY, flask_app.config.get("MAX_CONTENT_LENGTH") or MAX_DIRECT_BODY)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        form = self._read_form(environ)
        if form is None:
            return self.wsgi_app(environ, start_response)
        with self.gate:
            return self._introspect(environ, form, start_response)

    def _read_form(self, environ: dict) -> ImmutableMultiDict | None:
        """The parsed form, or None to leave the request to Flask (with its body put back to be read again)."""
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM:
            return None
        if "HTTP_TRANSFER_ENCODING" in environ:
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or int(length) > self.max_body:
            return None
        body = environ["wsgi.input"].read(int(length)) if int(length) else b""
        try:
            return _Form(_parse_form(body.decode()))
        except ValueError:  # not UTF-8: werkzeug's reading of it is the reference
            environ["wsgi.input"] = BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return None

    def _introspect(self, environ: dict, form: ImmutableMultiDict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        traceparent = environ.get("HTTP_TRACEPARENT")  # parsed only when sent (logs.py, trace_context.py)
        trace = parse_traceparent(traceparent) if traceparent is not None else None
        with self._app_context():
            g.request_id, g.trace = request_id, trace
            status, body, headers, signed = self._answer(environ, form, request_id)
        if signed is None:
            payload = _ENCODE_COMPACT(body).encode()
        else:
            status, payload, headers = signed  # RFC 9701: the answer as a signed JWT (oauth/signed_introspection)
        response_headers = [
            *headers,
            ("Content-Length", str(len(payload))),
            ("X-Request-Id", request_id),
            *SECURITY_HEADERS,
        ]
        if trace is not None:
            response_headers.append(("traceresponse", trace.traceresponse()))
        start_response(_REASONS.get(status, f"{status} Unknown"), response_headers)
        observe_introspection(status, introspection_result(status, body), started)
        log_access("POST", PATH, status, started, environ.get("REMOTE_ADDR"), request_id, trace)
        return [payload]

    def _app_context(self):
        """The caller's app context when it is this app's (as Flask does for a request: a test holding one sees
        the same session), else a fresh one."""
        if has_app_context() and current_app._get_current_object() is self.flask_app:
            return nullcontext()
        return self.flask_app.app_context()

    def _answer(
        self, environ: dict, form: ImmutableMultiDict, request_id: str
    ) -> tuple[int, dict, list, tuple[int, bytes, list] | None]:
        """(status, body, headers, signed): ``signed`` is the RFC 9701 JWT and its headers when the answer is to be
        sent signed, else None. Without an Accept header, deciding that costs one dict lookup."""
        app_services = services(self.flask_app)
        oauth = app_services.oauth
        signed = None
        try:
            request = WsgiOAuth2Request.from_environ(environ, _request_uri(environ), form, self.gate.stepped_out)
            read_ahead = prefetched_introspection_reads(request, app_services.verifier)  # PostgreSQL; else None
            if read_ahead is None:
                status, body, headers = oauth.answer("introspection", request)
            else:
                with serving_prefetched(read_ahead):  # both reads in one round trip
                    status, body, headers = oauth.answer("introspection", request)
            signed = signed_answer(status, body, headers, request.client, environ.get("HTTP_ACCEPT"))
        except OAuth2Error as error:  # authlib's transport check refused the URL (plain HTTP, not loopback)
            status, body, headers = error()
        except SQLAlchemyError as exc:
            status, body, headers = token_store_unavailable(exc, PATH)
            headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *headers]
        except Exception as exc:
            log.error("unhandled %s on POST %s (request %s)", exc.__class__.__name__, PATH, request_id, exc_info=True)
            body = {"error": "server_error", "error_description": f"unexpected error; request id {request_id}"}
            status, headers = 500, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        return status, body, headers, signed


def _parse_form(text: str) -> list[tuple[str, str]]:
    """werkzeug's reading of a urlencoded body (``parse_qsl``, blank values kept). A body with nothing escaped, as
    a token and client credentials usually are, is split directly: parse_qsl's unescaping of a ~1 KB token was a
    tenth of an introspection's Python time, and it changes nothing without ``%`` or ``+``."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")
    return [(name, value) for name, _, value in (part.partition("=") for part in text.split("&") if part)]


def _request_uri(environ: dict) -> str:
    """The URL as werkzeug reconstructs it, enough for authlib's transport check (scheme and host)."""
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('SCRIPT_NAME', '')}{PATH}"
