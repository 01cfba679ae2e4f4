"""The service's HTTP link to the authorization server: discovery, introspection, the event feed, usage reports.

Every call authenticates with the service's own resource-service client (HTTP Basic) over pooled keep-alive
connections (one ``requests.Session`` per thread), with short timeouts. Any transport failure, 5xx or unreadable
answer becomes ``UnavailableError``, which callers turn into "fail closed" unless a valid cached answer exists; a
429 becomes ``RateLimitedError``, carrying the server's ``Retry-After`` (capped), which callers wait out.
"""

from __future__ import annotations

import threading

import requests

METADATA_PATH = "/.well-known/oauth-authorization-server"
REQUIRED_METADATA = ("issuer", "jwks_uri", "introspection_endpoint")
SIGNED_INTROSPECTION_TYPE = "application/token-introspection+jwt"  # RFC 9701 section 4


MAX_BACKOFF = 30.0  # seconds: a Retry-After past this (a misconfigured or hostile answer) is cut to it


class UnavailableError(Exception):
    """The authorization server could not give an answer we can trust right now."""


class RateLimitedError(UnavailableError):
    """429: this service's client spent its rate limit; ask again no sooner than ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float:
    """RFC 9110 section 10.2.3 ``Retry-After`` as delay-seconds, at least 1 and at most ``MAX_BACKOFF``; a date or
    anything unreadable counts as 1 second (the server's limits answer whole seconds)."""
    try:
        seconds = float(int((value or "").strip()))
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 1.0), MAX_BACKOFF)


class AuthServerClient:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float,
        user_agent: str = "authserver-resource/0.1",
    ) -> None:
        self.issuer = issuer
        self.user_agent = user_agent
        self.timeout = timeout
        self._auth = (client_id, client_secret)
        self._local = threading.local()
        self._metadata: dict | None = None
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = self.user_agent
        return session

    def _call(self, method: str, url: str, *, timeout: float | None = None, auth: bool = True, **kwargs) -> dict:
        response = self._send(method, url, timeout=timeout, auth=auth, **kwargs)
        if response.status_code == 202 and not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise UnavailableError(f"{method} {url} did not answer JSON") from None
        if not isinstance(body, dict):
            raise UnavailableError(f"{method} {url} did not answer a JSON object")
        return body

    def _send(
        self, method: str, url: str, *, timeout: float | None = None, auth: bool = True, **kwargs
    ) -> requests.Response:
        """The answer of a call that succeeded (below 400); a 429 is ``RateLimitedError``, anything else that went
        wrong ``UnavailableError``."""
        try:
            response = self._session().request(
                method,
                url,
                auth=self._auth if auth else None,
                timeout=timeout or self.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise UnavailableError(f"{method} {url}: {exc.__class__.__name__}") from None
        if response.status_code == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise RateLimitedError(f"{method} {url} answered 429 (retry in {wait:g}s)", wait)
        if response.status_code >= 400:
            # 401 means our own credentials are wrong: as unusable as a server that is down, and said clearly.
            raise UnavailableError(f"{method} {url} answered {response.status_code}")
        return response

    # -- discovery (RFC 8414) ----------------------------------------------------------------------------
    def metadata(self) -> dict:
        """Fetched once, then kept; the issuer in the document must be exactly the one configured (section 3.3)."""
        if self._metadata is not None:
            return self._metadata
        with self._lock:
            if self._metadata is None:
                document = self._call("GET", self.issuer + METADATA_PATH, auth=False)
                if document.get("issuer") != self.issuer:
                    raise UnavailableError("the metadata's issuer does not match the configured issuer")
                missing = [name for name in REQUIRED_METADATA if not isinstance(document.get(name), str)]
                if missing:
                    raise UnavailableError(f"the metadata lacks {', '.join(missing)}")
                self._metadata = document
        return self._metadata

    def endpoint(self, name: str, fallback_path: str | None = None) -> str:
        url = self.metadata().get(name)
        if isinstance(url, str):
            return url
        if fallback_path is None:
            raise UnavailableError(f"the authorization server does not advertise {name}")
        return self.issuer + fallback_path

    # -- calls -------------------------------------------------------------------------------------------
    def introspect(self, token: str) -> dict:
        """RFC 7662 section 2.1, authenticated as this resource service."""
        return self._call(
            "POST", self.endpoint("introspection_endpoint"), data={"token": token, "token_type_hint": "access_token"}
        )

    def introspect_signed(self, token: str) -> str:
        """RFC 9701 section 4: the answer as a signed JWT (its text, to be verified by ``signed_answers``). An
        answer of any other type, JSON included, is ``UnavailableError``: asked for a signature, we take none
        less (no downgrade by whoever sits on the path)."""
        url = self.endpoint("introspection_endpoint")
        response = self._send(
            "POST",
            url,
            data={"token": token, "token_type_hint": "access_token"},
            headers={"Accept": SIGNED_INTROSPECTION_TYPE},
        )
        media_type = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if media_type != SIGNED_INTROSPECTION_TYPE:
            raise UnavailableError(f"POST {url} did not answer a signed introspection JWT (RFC 9701)")
        return response.text

    def jwks(self) -> dict:
        return self._call("GET", self.endpoint("jwks_uri"), auth=False)

    def snapshot(self) -> dict:
        return self._call("GET", self.endpoint("token_events_endpoint", "/oauth/events") + "/snapshot")

    def events_after(self, cursor: int, wait: float) -> dict:
        """Long poll: returns as soon as an event after ``cursor`` is committed, or after ``wait`` seconds."""
        return self._call(
            "GET",
            self.endpoint("token_events_endpoint", "/oauth/events"),
            params={"after": cursor, "wait": f"{wait:g}"},
            timeout=wait + self.timeout,
        )

    def report_usage(self, uses: list[dict]) -> None:
        self._call("POST", self.endpoint("token_usage_endpoint", "/oauth/usage"), json={"uses": uses})
