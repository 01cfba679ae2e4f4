// A small Node service protected by protect.mjs: ISSUER, CLIENT_ID, CLIENT_SECRET, RESOURCE; port as argument.
// PUBLIC_URL: the URL clients call it at (DPoP proofs' htu); unset, http:// and the request's Host.
import http from "node:http";
import { BearerError, createProtector } from "./protect.mjs";

const ROUTES = { "GET /v2/contacts": "contacts.readonly", "POST /v2/contacts": "contacts.write" };
const protector = await createProtector({
  issuer: process.env.ISSUER, clientId: process.env.CLIENT_ID, clientSecret: process.env.CLIENT_SECRET,
  resource: process.env.RESOURCE,
});

function send(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers });
  res.end(data);
}

http.createServer(async (req, res) => {
  const path = req.url.split("?")[0];
  if (path === "/healthz") return send(res, 200, { status: protector.isReady() ? "ok" : "degraded" });
  if (path === protector.metadataPath) return send(res, 200, protector.metadata([...new Set(Object.values(ROUTES))]));
  const scope = ROUTES[`${req.method} ${path}`];
  if (scope === undefined) return send(res, 404, { error: "not_found" });
  try {
    const base = process.env.PUBLIC_URL?.replace(/\/$/, "") || `http://${req.headers.host}`;
    const grant = await protector.check(req.headers.authorization, scope,
                                        { method: req.method, url: base + path, dpop: req.headers.dpop });
    return send(res, 200, { account_id: grant.accountId, integration_id: grant.integrationId, scopes: grant.scopes });
  } catch (error) {
    if (!(error instanceof BearerError)) throw error;
    const headers = { "www-authenticate": error.challenge(protector.realm, protector.metadataUrl) };
    if (error.status === 503) headers["retry-after"] = "1";
    return send(res, error.status, { error: error.error, error_description: error.message, ...error.extra }, headers);
  }
}).listen(Number(process.argv[2]), "127.0.0.1");
