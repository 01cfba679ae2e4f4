"""RFC 9449 section 7 on the request side: which tokens need a DPoP proof, and the proof checked for this request.

- an unbound token (no ``cnf.jkt``) sent as ``Bearer``: nothing to do, no extra cost;
- an unbound token sent as ``DPoP``: refused, ``invalid_token`` (section 7.2: the scheme claims a binding there is not);
- a bound token sent as ``Bearer``: refused, ``invalid_token`` (section 7.2: never downgraded to a bearer token);
- a bound token sent as ``DPoP``: the proof (``dpop.verify_proof``), the service's nonce if it hands them out
  (``dpop_nonce``: else ``use_dpop_nonce`` with a fresh one), then its ``jti`` once (``dpop_replay``); any other
  failure is ``invalid_dpop_proof``; a replay cache that cannot answer is a 503.

The URL a proof's ``htu`` must match is the one the client called: ``Settings.public_url`` (scheme, host and path
prefix as the client sees them behind a proxy) joined with the request's path, else the request's own URL.

Faces may hand the URL and the ``DPoP`` headers over as zero-argument callables: they are read only when a proof is
checked, so a bearer call does not pay for rebuilding its URL (bench/resource_kit_cpu.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from .bearer import InvalidDPoPProofError, InvalidTokenError, UseDPoPNonceError
from .dpop import ProofRefusedError, verify_proof
from .dpop_algorithms import DPOP_SIGNING_ALGS
from .dpop_nonce import NonceIssuer
from .dpop_replay import ReplayCache, replay_cache
from .grants import Grant
from .settings import Settings

ALGS = " ".join(DPOP_SIGNING_ALGS)  # the challenge's algs parameter (section 7.1)
_NOT_BOUND = "this access token is not bound to a key: send it as Authorization: Bearer <token>"
_BOUND = "this access token is bound to a key: send it as Authorization: DPoP <token> with a DPoP proof"


class SenderConstraint:
    def __init__(self, settings: Settings, clock, replay: ReplayCache | None = None) -> None:
        self.clock = clock
        self.public_url = settings.public_url.rstrip("/")
        self.max_age = settings.dpop_max_age
        self.clock_skew = settings.dpop_clock_skew
        self.nonces = (
            NonceIssuer(settings.dpop_nonce_secret, settings.dpop_nonce_lifetime)
            if settings.dpop_nonce_secret
            else None
        )
        self.replay = replay or replay_cache(
            settings.dpop_replay_redis_url, settings.dpop_max_age + settings.dpop_clock_skew
        )

    def enforce(
        self,
        grant: Grant,
        *,
        scheme: str,
        token: str,
        method: str | None,
        url: str | Callable[[], str] | None,
        proofs: Sequence[str] | Callable[[], Sequence[str]],
    ) -> None:
        """Return if ``grant``'s token may be used by this request; else raise the refusal to render."""
        if grant.jkt is None:
            if scheme == "dpop":
                raise InvalidTokenError(_NOT_BOUND).as_dpop(ALGS, dpop_scheme=True)
            return
        if scheme != "dpop":
            raise InvalidTokenError(_BOUND).as_dpop(ALGS, dpop_scheme=True)
        if callable(url):
            url = url()
        if callable(proofs):
            proofs = proofs()
        if method is None or url is None:
            raise InvalidDPoPProofError("this endpoint cannot check DPoP proofs").as_dpop(ALGS, dpop_scheme=True)
        now = self.clock.time()
        try:
            proof = verify_proof(
                proofs,
                method=method,
                url=self.target_url(url),
                access_token=token,
                jkt=grant.jkt,
                now=now,
                max_age=self.max_age,
                clock_skew=self.clock_skew,
            )
        except ProofRefusedError as refused:
            raise InvalidDPoPProofError(refused.reason).as_dpop(ALGS, dpop_scheme=True) from None
        if self.nonces is not None and not self.nonces.is_valid(proof.nonce, now):
            raise UseDPoPNonceError(self.nonces.current(now)).as_dpop(ALGS, dpop_scheme=True)
        if not self.replay.first_use(proof.jkt, proof.jti):
            raise InvalidDPoPProofError(
                "this DPoP proof was used before: make a new proof (new jti) for every request"
            ).as_dpop(ALGS, dpop_scheme=True)

    def target_url(self, url: str) -> str:
        """The URL the client called: the public URL with the request's path, or the request's own URL."""
        if not self.public_url:
            return url
        return self.public_url + (urlsplit(url).path or "/")

    def needs_io(self, grant: Grant, scheme: str) -> bool:
        """True when checking this request may block on the network (a bound token and a Redis replay cache)."""
        return scheme == "dpop" and grant.jkt is not None and self.replay.needs_io
