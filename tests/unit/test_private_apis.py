"""Every private API of a dependency that the hot path relies on (authserver/hotpath/README.md), checked for the
shape and behaviour we use, so that an upgrade that changes one fails here rather than in production."""

from __future__ import annotations

import inspect
import logging
import os

import pytest
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidRequestError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from granian.server import Server
from werkzeug.datastructures import ImmutableMultiDict

from authserver.hotpath.direct import WsgiOAuth2Request
from authserver.hotpath.fair_gate import NOT_GATED
from authserver.hotpath.granian_workers import DrainingWorkerServer
from authserver.hotpath.log_records import stop_collecting_record_details
from authserver.oauth.introspection import TokenIntrospectionEndpoint

URI = "http://127.0.0.1:5000/oauth/introspect"


# -- authlib: AuthorizationServer._endpoints ---------------------------------------------------------------------
def test_authlib_keeps_registered_endpoints_in_endpoints_by_name_first_one_answering():
    """``IntegrationAuthorizationServer.answer`` runs ``self._endpoints[name][0]``."""

    class Endpoint(IntrospectionEndpoint):
        pass

    server = AuthorizationServer()
    server.register_endpoint(Endpoint)
    endpoints = server._endpoints
    assert list(endpoints) == ["introspection"]
    assert isinstance(endpoints["introspection"], list) and len(endpoints["introspection"]) == 1
    assert isinstance(endpoints["introspection"][0], Endpoint) and endpoints["introspection"][0].server is server


# -- authlib: FlaskAuthorizationServer._error_uris (set by our load_config) ---------------------------------------
def test_authlib_reads_error_uris_from_error_uris_attribute():
    """Our ``load_config`` sets ``_error_uris = None`` instead of authlib's, which reads Flask config."""
    server = AuthorizationServer()
    error = InvalidRequestError()
    server._error_uris = None
    assert server.get_error_uri(None, error) is None
    server._error_uris = [("invalid_request", "https://example.test/errors#invalid_request")]
    assert server.get_error_uri(None, error) == "https://example.test/errors#invalid_request"


# -- authlib: OAuth2Request built with __new__ and a copied __dict__ ----------------------------------------------
# Everything authlib's constructor sets. The direct path runs it once per URL and copies the result into each
# request, so each of these must be the same for every request to one URL, or be overwritten per request
# (method, headers, payload). A new attribute means reading authlib's change before widening this set.
AUTHLIB_REQUEST_ATTRIBUTES = {
    "method",
    "uri",
    "headers",
    "_body",
    "payload",
    "client",
    "auth_method",
    "user",
    "authorization_code",
    "refresh_token",
    "credential",
    "_scope",
}


def test_authlib_request_constructor_sets_only_the_attributes_the_direct_path_copies():
    request = OAuth2Request.__new__(OAuth2Request)
    OAuth2Request.__init__(request, "POST", URI)
    assert set(vars(request)) == AUTHLIB_REQUEST_ATTRIBUTES
    assert list(inspect.signature(OAuth2Request.__init__).parameters) == ["self", "method", "uri", "body", "headers"]


def test_authlib_request_constructor_is_where_the_transport_is_refused():
    """The direct path relies on the constructor raising for a refused URL (it keeps no template for it)."""
    with pytest.raises(InsecureTransportError):
        OAuth2Request("POST", "http://auth.example.com/oauth/introspect")


def test_a_direct_request_carries_per_request_values_and_nothing_of_the_previous_one():
    first = WsgiOAuth2Request.from_environ(_environ("Basic one"), URI, ImmutableMultiDict([("token", "a")]), NOT_GATED)
    first.client, first.auth_method = object(), "client_secret_basic"  # what authentication writes
    second = WsgiOAuth2Request.from_environ(_environ("Basic two"), URI, ImmutableMultiDict([("token", "b")]), NOT_GATED)
    assert set(vars(second)) == AUTHLIB_REQUEST_ATTRIBUTES | {"_form", "wait", "remote_addr"}
    assert second.client is None and second.auth_method is None
    assert second.headers["Authorization"] == "Basic two" and second.remote_addr == "198.51.100.7"
    assert second.form.to_dict() == second.payload.data.to_dict() == {"token": "b"}


def test_authlib_basic_payload_reads_the_form_as_authlib_endpoints_read_it():
    """``authlib.oauth2.rfc6749.requests.BasicOAuth2Payload`` is not exported by the package: import path and
    behaviour checked."""
    payload = BasicOAuth2Payload(ImmutableMultiDict([("client_id", "cli_x"), ("token", "t")]))
    assert payload.client_id == "cli_x" and payload.data.to_dict() == {"client_id": "cli_x", "token": "t"}


def test_our_introspection_endpoint_replaces_authlibs_token_lookup_step_whole():
    """``TokenIntrospectionEndpoint.authenticate_token`` repeats authlib's steps (check_params, query_token,
    check_permission) to hand the request's ``wait`` down; authlib's version must still be exactly those steps."""
    source = inspect.getsource(IntrospectionEndpoint.authenticate_token)
    code = [line.strip() for line in source.split('"""')[-1].splitlines() if line.strip()]
    assert code == [
        "self.check_params(request, client)",
        "token = self.query_token(",
        'request.form["token"], request.form.get("token_type_hint")',
        ")",
        "if token and self.check_permission(token, client, request):",
        "return token",
    ]
    assert TokenIntrospectionEndpoint.authenticate_token is not IntrospectionEndpoint.authenticate_token


# -- granian: Server._spawn_wsgi_worker ----------------------------------------------------------------------------
def test_granian_spawns_wsgi_workers_through_a_static_spawn_wsgi_worker():
    """``DrainingWorkerServer`` overrides it and calls granian's as ``Server._spawn_wsgi_worker(*args)``: it must
    be a static method (no self to pass), and the one ``serve`` picks for WSGI."""
    assert isinstance(inspect.getattr_static(Server, "_spawn_wsgi_worker"), staticmethod)
    assert any(
        "Interfaces.WSGI: self._spawn_wsgi_worker" in inspect.getsource(cls.serve)
        for cls in Server.__mro__
        if "serve" in vars(cls)
    )
    assert DrainingWorkerServer.__mro__[1] is Server


def test_granian_worker_spawner_takes_the_arguments_it_is_started_with():
    """The spawner is granian's own process target: its leading parameters are the worker's identity, loader,
    socket and IPC pipe, as the override forwards them unchanged."""
    started_with = inspect.signature(Server._spawn_wsgi_worker, follow_wrapped=False)
    assert list(started_with.parameters)[:4] == ["worker_id", "process_name", "callback_loader", "sock"]
    serving = inspect.signature(inspect.unwrap(Server._spawn_wsgi_worker))
    assert list(serving.parameters)[:4] == ["worker_id", "callback", "sock", "ipc"]


def test_after_drain_runs_when_the_worker_loop_returns_and_when_it_raises(monkeypatch):
    """The override's own contract: ``after_drain`` once, whatever granian's loop did."""
    ran = []

    class Recording(DrainingWorkerServer):
        @staticmethod
        def after_drain() -> None:
            ran.append("drained")

    outcomes = iter([None, RuntimeError("worker crashed")])

    def granian_loop(*args, **kwargs):
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(Server, "_spawn_wsgi_worker", staticmethod(granian_loop))
    Recording._spawn_wsgi_worker(1, "worker-1")
    with pytest.raises(RuntimeError):
        Recording._spawn_wsgi_worker(2, "worker-2")
    assert ran == ["drained", "drained"]


# -- logging: _srcfile -------------------------------------------------------------------------------------------
def test_logging_walks_the_stack_only_while_srcfile_is_set():
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test_private_apis")
    logger.addHandler(Keep())
    logger.propagate, logger.level = False, logging.INFO
    try:
        # logging's own defaults, whatever an earlier test in this process configured (configure_logging turns
        # them off for good, as the server does)
        logging._srcfile = os.path.normcase(logging.addLevelName.__code__.co_filename)
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = True
        logger.info("with the caller")
        stop_collecting_record_details()
        logger.info("without")
    finally:
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved
        logger.handlers.clear()
    assert records[0].pathname == __file__ and records[0].lineno > 0 and records[0].threadName is not None
    assert records[1].pathname == "(unknown file)" and records[1].lineno == 0
    assert records[1].threadName is None and records[1].processName is None


def _environ(authorization: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "HTTP_AUTHORIZATION": authorization,
        "REMOTE_ADDR": "198.51.100.7",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
    }
