// The reference peer for `python bench/run.py introspection`: node-oidc-provider, configured minimally.
//
//   PEER_PORT=... PEER_CLIENT_ID=... PEER_CLIENT_SECRET=... node bench/peer/server.mjs
//
// One client with the client credentials grant (client_secret_basic), introspection on, the provider's built-in
// in-memory adapter, opaque access tokens (no resource indicators, so nothing is a JWT). One process, as the
// provider is usually run; it listens on 127.0.0.1 only and prints one line when it is ready.
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PEER_PORT);
const clientId = process.env.PEER_CLIENT_ID;
const clientSecret = process.env.PEER_CLIENT_SECRET;
if (!port || !clientId || !clientSecret) {
  console.error('PEER_PORT, PEER_CLIENT_ID and PEER_CLIENT_SECRET are required');
  process.exit(2);
}

const scopes = ['contacts.readonly', 'calendars.readonly'];
// A throwaway signing key, so the provider does not fall back to its development keys (it signs nothing here).
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(`http://127.0.0.1:${port}`, {
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

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`peer listening on http://127.0.0.1:${port} (oidc-provider, node ${process.version})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
