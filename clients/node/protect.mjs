// Local validation of authserver access tokens in Node.js with jose, plus the event feed for revocations.
//
//   const protector = await createProtector({ issuer, clientId, clientSecret, resource, audience });
//   const grant = await protector.check(req.headers.authorization, "contacts.readonly");  // throws BearerError
//
// jwtVerify checks the signature against the JWKS (createRemoteJWKSet refetches on an unknown kid), the issuer,
// the audience (this service's resource URI, or the server's default audience: RFC 8707), typ "at+jwt"
// (RFC 9068) and exp/nbf. What a JWT cannot say about itself (revoked tokens, scheduled ends, disabled
// integrations, revoked signing keys) comes from the token event feed: a snapshot, then a long poll that applies
// each event within a second of its commit. While the feed is down for longer than maxStaleness seconds, every
// call fails closed (503). Node 20+ (global fetch); the only dependency is jose.
//
// DPoP (RFC 9449): a token carrying cnf.jkt must come as "Authorization: DPoP <token>" with one DPoP proof
// (jwtVerify with EmbeddedJWK: typ dpop+jwt, the advertised algorithms, htm, htu, iat window, ath, and the key's
// thumbprint equal to cnf.jkt); a proof's jti is accepted once. The replay cache is in memory, so it covers ONE
// process: run one process per service, or a replayed proof could pass in another (the Python package shares its
// cache through Redis).
import { createHash } from "node:crypto";
import { calculateJwkThumbprint, createRemoteJWKSet, EmbeddedJWK, jwtVerify } from "jose";

export const DEFAULT_AUDIENCE = "https://api.example.com/v2";
// The authorization server's dpop_signing_alg_values_supported (authserver_resource/dpop_algorithms.py).
export const DPOP_ALGS = ["ES256", "ES384", "PS256", "RS256", "EdDSA"];

export class BearerError extends Error {
  constructor(status, error, description, extra = {}, scheme = "Bearer") {
    super(description);
    this.status = status;
    this.error = error;
    this.extra = extra;
    this.scheme = scheme;  // "DPoP": the request or its token is DPoP (RFC 9449 section 7.1)
  }

  challenge(realm, resourceMetadata) {
    const params = [`realm="${realm}"`];
    if (this.error) params.push(`error="${this.error}"`, `error_description="${this.message}"`);
    for (const [name, value] of Object.entries(this.extra)) params.push(`${name}="${value}"`);
    if (resourceMetadata && this.status === 401) params.push(`resource_metadata="${resourceMetadata}"`);
    const algs = `algs="${DPOP_ALGS.join(" ")}"`;
    if (this.scheme === "DPoP") return "DPoP " + [...params, algs].join(", ");
    // no credentials: both schemes are offered (RFC 9449 section 7.2)
    return "Bearer " + params.join(", ") + (this.status === 401 && !this.error ? `, DPoP ${algs}` : "");
  }
}

const missing = () => new BearerError(401, null, "this API needs a bearer token: Authorization: Bearer <token>");
const invalid = () => new BearerError(401, "invalid_token", "the access token is invalid, expired or revoked");
const dpopError = (error, description) => new BearerError(401, error, description, {}, "DPoP");
const badProof = (description) => dpopError("invalid_dpop_proof", description);
const unavailable = () => new BearerError(503, "temporarily_unavailable",
  "the authorization server cannot be reached to validate the token; retry shortly");

// RFC 9728 section 3.1: /.well-known/oauth-protected-resource inserted between the host and the resource's path.
export function metadataUrl(resource) {
  const url = new URL(resource);
  return `${url.origin}/.well-known/oauth-protected-resource${url.pathname.replace(/\/$/, "")}`;
}

// Section 4.3 point 9: the URL without query and fragment; WHATWG URL parsing lower-cases scheme and host, drops a
// default port and resolves dot segments.
function htuOf(text) {
  const url = new URL(text);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError("not an http(s) URL");
  return url.origin + url.pathname;
}

// A proof's jti accepted once while its iat could still be accepted; one process only (see above).
export class MemoryReplayCache {
  constructor(ttlSeconds) { this.ttl = ttlSeconds * 1000; this.seen = new Map(); }

  firstUse(jkt, jti) {
    const now = Date.now();
    for (const [key, until] of this.seen) {  // insertion order is expiry order: drop the expired head
      if (until > now) break;
      this.seen.delete(key);
    }
    const key = createHash("sha256").update(`${jkt}\n${jti}`).digest("base64url");
    if (this.seen.has(key)) return false;
    this.seen.set(key, now + this.ttl);
    return true;
  }
}

// RFC 9449 section 4.3: the one proof of `proofs` for this request and this token bound to `jkt`.
export async function verifyProof(proofs, { method, url, token, jkt, maxAge = 60, clockSkew = 5, replay }) {
  const values = (Array.isArray(proofs) ? proofs : [proofs]).filter((value) => value !== undefined && value !== "");
  if (values.length === 0) throw badProof("the request has no DPoP proof: send one in the DPoP header");
  if (values.length !== 1 || values[0].includes(",")) throw badProof("the request must carry exactly one DPoP proof");
  let payload, protectedHeader;
  try {
    ({ payload, protectedHeader } = await jwtVerify(values[0], EmbeddedJWK, { typ: "dpop+jwt", algorithms: DPOP_ALGS }));
  } catch {
    throw badProof("the proof is not a dpop+jwt signed by its jwk header with a supported algorithm");
  }
  const { jwk } = protectedHeader;
  if (["d", "p", "q", "dp", "dq", "qi", "k"].some((name) => name in jwk)) throw badProof("the jwk header is private");
  if (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > 256) {
    throw badProof("jti must be a unique identifier of at most 256 characters");
  }
  if (payload.htm !== method.toUpperCase()) throw badProof("htm does not match the request's method");
  let sameUrl = false;
  try { sameUrl = typeof payload.htu === "string" && htuOf(payload.htu) === htuOf(url); } catch { sameUrl = false; }
  if (!sameUrl) throw badProof("htu does not match the request's URL");
  const now = Date.now() / 1000;
  if (!Number.isInteger(payload.iat)) throw badProof("iat must be an integer NumericDate");
  if (payload.iat < now - maxAge) throw badProof("the proof is too old (iat)");
  if (payload.iat > now + clockSkew) throw badProof("the proof is issued in the future (iat)");
  if (typeof payload.ath !== "string") throw badProof("ath (the access token's hash) is missing");
  if (payload.ath !== createHash("sha256").update(token, "ascii").digest("base64url")) {
    throw badProof("ath does not match the access token");
  }
  if (await calculateJwkThumbprint(jwk, "sha256") !== jkt) {
    throw badProof("the proof's key is not the key the access token is bound to");
  }
  if (!replay.firstUse(jkt, payload.jti)) {
    throw badProof("this DPoP proof was used before: make a new proof (new jti) for every request");
  }
}

export async function createProtector({ issuer, clientId, clientSecret, resource, audience = DEFAULT_AUDIENCE,
                                        maxStaleness = 30, feedWait = 10, realm = "v2",
                                        dpopMaxAge = 60, dpopClockSkew = 5 }) {
  issuer = issuer.replace(/\/$/, "");
  resource = resource || audience;
  const basic = "Basic " + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`)
    .toString("base64");
  const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  if (metadata.issuer !== issuer) throw new Error("the metadata's issuer is not the configured issuer");
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), { cooldownDuration: 10_000 });
  const eventsUrl = metadata.token_events_endpoint ?? `${issuer}/oauth/events`;
  const snapshotUrl = metadata.token_events_snapshot_endpoint ?? `${eventsUrl}/snapshot`;

  const state = { revoked: new Set(), endsAt: new Map(), integrations: new Map(), revokedKeys: new Set(),
                  account: null, cursor: null, lastOk: 0, stopped: false };

  async function call(url) {
    const response = await fetch(url, { headers: { authorization: basic }, redirect: "error",
                                        signal: AbortSignal.timeout((feedWait + 5) * 1000) });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.json();
  }

  function apply(event) {
    if (event.type === "token.revoked") { state.revoked.add(event.jti); state.endsAt.delete(event.jti); }
    else if (event.type === "token.ends") {
      if (event.ends_at == null) state.endsAt.delete(event.jti); else state.endsAt.set(event.jti, event.ends_at);
    } else if (event.type === "integration.changed") state.integrations.set(event.integration_id, event);
    else if (event.type === "key.revoked") state.revokedKeys.add(event.kid);
  }

  async function follow() {
    while (!state.stopped) {
      try {
        if (state.cursor === null) {
          const snapshot = await call(snapshotUrl);
          state.revoked = new Set((snapshot.revoked ?? []).map((item) => item.jti));
          state.endsAt = new Map((snapshot.ending ?? []).map((item) => [item.jti, item.ends_at]));
          state.integrations = new Map((snapshot.integrations ?? []).map((item) => [item.integration_id, item]));
          state.revokedKeys = new Set(snapshot.revoked_keys ?? []);
          state.account = snapshot.account_id ?? null;
          state.cursor = snapshot.cursor;
        } else {
          const answer = await call(`${eventsUrl}?after=${state.cursor}&wait=${feedWait}`);
          answer.events.forEach(apply);
          state.cursor = answer.cursor;
        }
        state.lastOk = Date.now();
      } catch (error) {
        state.cursor = null;  // start over from a fresh snapshot
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
  follow();

  const isFresh = () => state.lastOk > 0 && (Date.now() - state.lastOk) / 1000 < feedWait + maxStaleness;

  const replay = new MemoryReplayCache(dpopMaxAge + dpopClockSkew);

  // `request`: { method, url, dpop } of the call, for tokens bound to a key (url: the one the client called).
  async function check(authorization, scope, request = {}) {
    const [rawScheme, token] = (authorization ?? "").split(" ");
    const scheme = (rawScheme ?? "").toLowerCase();
    if (!authorization || (scheme !== "bearer" && scheme !== "dpop")) throw missing();
    const asScheme = scheme === "dpop" ? "DPoP" : "Bearer";
    if (!token || !/^[A-Za-z0-9\-._~+/]+=*$/.test(token) || token.length > 8192) {
      throw new BearerError(400, "invalid_request", `the Authorization header must be: ${asScheme} <token>`, {},
                            asScheme);
    }
    try {
      return await judge(scheme, token, scope, request);
    } catch (error) {
      if (error instanceof BearerError && scheme === "dpop") error.scheme = "DPoP";
      throw error;
    }
  }

  async function judge(scheme, token, scope, { method, url, dpop } = {}) {
    let payload, protectedHeader;
    try {
      ({ payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer, audience: [...new Set([resource, audience])], typ: "at+jwt",
        algorithms: ["RS256", "ES256", "EdDSA"], requiredClaims: ["exp", "iat", "jti", "sub", "scope"],
      }));
    } catch (error) {
      if (error?.code === "ERR_JWKS_TIMEOUT" || error?.code === "ERR_JOSE_GENERIC") throw unavailable();
      throw invalid();
    }
    if (!isFresh()) throw unavailable();  // we cannot know whether it was revoked: fail closed
    const now = Date.now() / 1000;
    const integration = state.integrations.get(payload.sub);
    if (state.revoked.has(payload.jti) || state.revokedKeys.has(protectedHeader.kid)
        || (state.endsAt.has(payload.jti) && now >= state.endsAt.get(payload.jti))
        || (state.account && payload.account_id !== state.account)
        || (integration && integration.status !== "active")) throw invalid();
    let scopes = String(payload.scope).split(" ").filter(Boolean);
    if (integration) scopes = scopes.filter((name) => (integration.scopes ?? []).includes(name));
    if (scopes.length === 0) throw invalid();
    const jkt = payload.cnf?.jkt;
    if (payload.cnf !== undefined && (typeof jkt !== "string" || Object.keys(payload.cnf).length !== 1)) throw invalid();
    if (jkt === undefined && scheme === "dpop") {
      throw dpopError("invalid_token", "this access token is not bound to a key: send it as Authorization: Bearer");
    }
    if (jkt !== undefined) {  // RFC 9449 section 7: a bound token needs the DPoP scheme and a proof
      if (scheme !== "dpop") {
        throw dpopError("invalid_token",
                        "this access token is bound to a key: send it as Authorization: DPoP <token> with a DPoP proof");
      }
      if (!method || !url) throw badProof("this endpoint cannot check DPoP proofs");
      await verifyProof(dpop, { method, url, token, jkt, maxAge: dpopMaxAge, clockSkew: dpopClockSkew, replay });
    }
    if (scope && !scopes.includes(scope)) {
      throw new BearerError(403, "insufficient_scope", "the access token does not grant the scope this call needs",
                            { scope });
    }
    return { jti: payload.jti, accountId: payload.account_id, integrationId: payload.sub, scopes, jkt: jkt ?? null };
  }

  return {
    check,
    isReady: isFresh,
    metadataPath: new URL(metadataUrl(resource)).pathname,
    metadataUrl: metadataUrl(resource),
    metadata: (scopesSupported) => ({ resource, authorization_servers: [issuer],
                                      scopes_supported: scopesSupported, bearer_methods_supported: ["header"],
                                      dpop_signing_alg_values_supported: DPOP_ALGS }),
    realm,
    stop() { state.stopped = true; },
  };
}
