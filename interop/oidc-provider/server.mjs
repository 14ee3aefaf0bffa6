// panva's oidc-provider (OpenID Certified), configured as a PSC stand-in for interop runs.
//
// Started by psc_testkit/interop/oidc_provider.py: `node server.mjs CONFIG.json`. The config (written by the
// launcher) holds the TLS files, the signing key, the clients and the accounts with PSC-shaped
// claims. The server listens on 127.0.0.1 only, on an ephemeral port, and prints `issuer=…`
// once it answers. Nothing here is an example of a production configuration.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import { parse as parseQuery } from 'node:querystring';

import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts; // subject → claims
const bySubjectNameID = new Map(
  Object.entries(accounts).map(([sub, claims]) => [claims.SubjectNameID, sub]),
);

const server = https.createServer({
  cert: fs.readFileSync(config.tls.cert),
  key: fs.readFileSync(config.tls.key),
  ca: fs.readFileSync(config.tls.ca),
  // mTLS clients present a certificate; others don't, so a missing one is not refused here:
  // oidc-provider decides per client.
  requestCert: true,
  rejectUnauthorized: false,
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>${body}</body></html>`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 65536) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(parseQuery(data)));
    req.on('error', reject);
  });
}

// The login page: the professional types an idNat, as on PSC's own test pages. PSC asks no
// consent, so the grant is given below (loadExistingGrant) without a consent page.
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt } = details;
  if (req.method === 'POST') {
    const body = await readBody(req);
    const subject = bySubjectNameID.get(body.idNat);
    if (!subject) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Inconnu', `<p>idNat inconnu</p><a href="/interaction/${uid}">retour</a>`));
      return;
    }
    const result = { login: { accountId: subject, acr: 'eidas1', amr: ['pwd'] } };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name !== 'login') {
    // A consent prompt after login: PSC has none, so it is granted at once.
    await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    page(
      'Connexion',
      `<form method="post" action="/interaction/${uid}">
        <label>idNat <input name="idNat" type="text" required></label>
        <button type="submit" name="login" value="1">Se connecter</button>
      </form>`,
    ),
  );
}

function subjectMatches(ctx, property, expected) {
  const cert = ctx.socket.getPeerX509Certificate?.();
  if (!cert || property !== 'tls_client_auth_subject_dn') return false;
  // Node lists the RDNs one per line, most significant first; RFC 4514 strings are reversed
  // and comma-separated. The test names carry no escaped commas.
  const have = new Set(cert.subject.split('\n'));
  const want = expected.split(',');
  return want.length === have.size && want.every((rdn) => have.has(rdn));
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys: [config.signing_key] },
    // SameSite=None on the session cookie: oidc-provider's condition for POST authorization.
    cookies: {
      keys: [crypto.randomBytes(32).toString('base64url')],
      long: { sameSite: 'none' },
    },
    findAccount: async (_ctx, id) => {
      if (!accounts[id]) return undefined;
      return { accountId: id, claims: async () => ({ ...accounts[id], sub: id }) };
    },
    claims: {
      openid: ['sub'],
      scope_all: config.scope_all_claims,
    },
    scopes: ['openid', 'offline_access', 'scope_all'],
    acrValues: ['eidas1', 'eidas2', 'eidas3'],
    responseTypes: ['code'],
    // OIDC Core §3.1.2.1: the authorization endpoint MUST accept POST; off by default here.
    enableHttpPostMethods: true,
    clientAuthMethods: [
      'none',
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      'tls_client_auth',
    ],
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      jwtUserinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: (ctx) => ctx.socket.getPeerX509Certificate?.(),
        certificateAuthorized: (ctx) => ctx.socket.authorized,
        certificateSubjectMatches: subjectMatches,
      },
    },
    // PSC's lifetimes (seconds): 2 min access tokens, 30 min refresh, 4 h session.
    ttl: {
      AccessToken: 120,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 1800,
      Grant: 14400,
      Session: 14400,
      Interaction: 600,
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      const grantId =
        ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      // A grant revoked with its tokens (code reuse, revocation) is found no more: new one.
      const found = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      const grant =
        found ??
        new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      grant.addOIDCClaims([...ctx.oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, details) => `/interaction/${details.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Erreur', `<p>${escape(out.error)}: ${escape(out.error_description)}</p>`);
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  // Why a request was refused, in the launcher's log (read when a run needs explaining).
  for (const event of ['authorization.error', 'end_session.error', 'grant.error']) {
    provider.on(event, (_ctx, err) => console.error(event, err.message, err.cause?.message ?? ''));
  }
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, req, res).catch((err) => {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
        res.end(page('Erreur', `<p>${escape(err.message)}</p>`));
      });
      return;
    }
    callback(req, res);
  });
  console.log(`issuer=${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
