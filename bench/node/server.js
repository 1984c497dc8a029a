// oidc-provider with one confidential client allowed the client_credentials grant, for
// bench/server.py. Usage: node server.js PORT CLIENT_SECRET
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const secret = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api',
  }],
  scopes: ['api'],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
