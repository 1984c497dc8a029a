// oidc-provider (panva) on loopback, issuing RFC 9068 JWT access tokens over client_credentials,
// for tests/interop. Usage: node server.js PORT CLIENT_SECRET CLIENT_JWKS_JSON
// Prints one line "ready" once listening.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, secret, clientJwks] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const issuer = `http://127.0.0.1:${port}`;
const resource = 'https://api.example.com'; // ES256 access tokens
const rsaResource = 'https://rsa.example.com'; // RS256 access tokens

function privateJwk(type, options, kid, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const provider = new Provider(issuer, {
  jwks: {
    keys: [
      privateJwk('ec', { namedCurve: 'P-256' }, 'ec-1', 'ES256'),
      privateJwk('rsa', { modulusLength: 2048 }, 'rsa-1', 'RS256'),
    ],
  },
  clients: [
    {
      client_id: 'svc',
      client_secret: secret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api:read',
    },
    {
      client_id: 'svc-jwt',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: JSON.parse(clientJwks),
      scope: 'api:read',
    },
  ],
  scopes: ['api:read'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource && indicator !== rsaResource) {
          throw new Error('unknown resource');
        }
        return {
          scope: 'api:read',
          audience: indicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: indicator === rsaResource ? 'RS256' : 'ES256' } },
        };
      },
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log('ready'));
