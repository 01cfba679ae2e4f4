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
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";

export const DEFAULT_AUDIENCE = "https://api.example.com/v2";

export class BearerError extends Error {
  constructor(status, error, description, extra = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.extra = extra;
  }

  challenge(realm, resourceMetadata) {
    const params = [`realm="${realm}"`];
    if (this.error) params.push(`error="${this.error}"`, `error_description="${this.message}"`);
    for (const [name, value] of Object.entries(this.extra)) params.push(`${name}="${value}"`);
    if (resourceMetadata && this.status === 401) params.push(`resource_metadata="${resourceMetadata}"`);
    return "Bearer " + params.join(", ");
  }
}

const missing = () => new BearerError(401, null, "this API needs a bearer token: Authorization: Bearer <token>");
const invalid = () => new BearerError(401, "invalid_token", "the access token is invalid, expired or revoked");
const unavailable = () => new BearerError(503, "temporarily_unavailable",
  "the authorization server cannot be reached to validate the token; retry shortly");

// RFC 9728 section 3.1: /.well-known/oauth-protected-resource inserted between the host and the resource's path.
export function metadataUrl(resource) {
  const url = new URL(resource);
  return `${url.origin}/.well-known/oauth-protected-resource${url.pathname.replace(/\/$/, "")}`;
}

export async function createProtector({ issuer, clientId, clientSecret, resource, audience = DEFAULT_AUDIENCE,
                                        maxStaleness = 30, feedWait = 10, realm = "v2" }) {
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

  async function check(authorization, scope) {
    const [scheme, token] = (authorization ?? "").split(" ");
    if (!authorization || scheme.toLowerCase() !== "bearer") throw missing();
    if (!token || !/^[A-Za-z0-9\-._~+/]+=*$/.test(token) || token.length > 8192) {
      throw new BearerError(400, "invalid_request", "the Authorization header must be: Bearer <token>");
    }
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
    if (scope && !scopes.includes(scope)) {
      throw new BearerError(403, "insufficient_scope", "the access token does not grant the scope this call needs",
                            { scope });
    }
    return { jti: payload.jti, accountId: payload.account_id, integrationId: payload.sub, scopes };
  }

  return {
    check,
    isReady: isFresh,
    metadataPath: new URL(metadataUrl(resource)).pathname,
    metadataUrl: metadataUrl(resource),
    metadata: (scopesSupported) => ({ resource, authorization_servers: [issuer],
                                      scopes_supported: scopesSupported, bearer_methods_supported: ["header"] }),
    realm,
    stop() { state.stopped = true; },
  };
}
