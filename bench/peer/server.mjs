// The reference peer for `python bench/run.py introspection`: node-oidc-provider, configured minimally.
//
//   PEER_PORT=... PEER_CLIENT_ID=... PEER_CLIENT_SECRET=... [PEER_WORKERS=2 PEER_TOKEN_FILE=...] node server.mjs
//
// One client with the client credentials grant (client_secret_basic), introspection on, opaque access tokens (no
// resource indicators, so nothing is a JWT). It listens on 127.0.0.1 only and prints one line when it is ready.
//
// One process with the provider's built-in in-memory adapter, as the provider is usually run. With PEER_WORKERS > 1
// it runs as a cluster (node's `cluster` module, one worker per core, sharing the port): the primary mints one token
// in process, writes it to PEER_TOKEN_FILE and hands its stored record to every worker, whose adapter is a plain Map
// seeded with it, so whichever worker a connection lands on knows the token (the in-memory adapter is per process).
import cluster from 'node:cluster';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.PEER_PORT);
const clientId = process.env.PEER_CLIENT_ID;
const clientSecret = process.env.PEER_CLIENT_SECRET;
const workers = Number(process.env.PEER_WORKERS || 1);
if (!port || !clientId || !clientSecret) {
  console.error('PEER_PORT, PEER_CLIENT_ID and PEER_CLIENT_SECRET are required');
  process.exit(2);
}
if (workers > 1 && !process.env.PEER_TOKEN_FILE) {
  console.error('PEER_TOKEN_FILE is required with PEER_WORKERS > 1');
  process.exit(2);
}

const scopes = ['contacts.readonly', 'calendars.readonly'];

// Every record the provider stores, by model and id; seeded from PEER_SEED in cluster workers.
const records = new Map(JSON.parse(process.env.PEER_SEED || '[]'));

class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload) { records.set(this.key(id), payload); }
  async find(id) { return records.get(this.key(id)); }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const found = records.get(this.key(id)); if (found) found.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { records.delete(this.key(id)); }
  async revokeByGrantId() {}
}

function makeProvider(adapter) {
  // A throwaway signing key, so the provider does not fall back to its development keys (it signs nothing here).
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return new Provider(`http://127.0.0.1:${port}`, {
    ...(adapter ? { adapter } : {}),
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: scopes.join(' '),
    }],
    scopes,
    jwks: { keys: [{ ...signingKey, kid: 'bench', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [clientSecret] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // The same rule our resource services follow: an authenticated client may introspect. (The default
        // policy is the same; setting it only silences the provider's "you should change this" notice.)
        allowedPolicy: async () => true,
      },
    },
    ttl: { ClientCredentials: 24 * 3600 },
  });
}

function listen(provider, label) {
  const server = provider.listen(port, '127.0.0.1', () => {
    console.log(`peer listening on http://127.0.0.1:${port} (oidc-provider, node ${process.version}, ${label})`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => server.close(() => process.exit(0)));
  }
}

if (workers > 1 && cluster.isPrimary) {
  const minting = makeProvider(MapAdapter);
  const client = await minting.Client.find(clientId);
  const token = await new minting.ClientCredentials({ client, scope: scopes.join(' ') }).save();
  writeFileSync(process.env.PEER_TOKEN_FILE, token);
  const seed = JSON.stringify([...records]);
  for (let i = 0; i < workers; i += 1) cluster.fork({ PEER_SEED: seed });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
      process.exit(0);
    });
  }
} else if (workers > 1) {
  listen(makeProvider(MapAdapter), `cluster worker ${cluster.worker.id}/${workers}`);
} else {
  listen(makeProvider(), 'one process');
}
