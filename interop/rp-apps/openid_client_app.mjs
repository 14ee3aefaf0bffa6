// A Pro Santé Connect relying party written with panva's openid-client v6, the way a vendor
// would: the library does the protocol work (discovery, PKCE, state, nonce, the code exchange,
// the ID token's claims and signature, UserInfo's sub), the app adds only what PSC asks on top
// (acr >= eidas1) and its pages. It follows psc-testkit's RP-app contract
// (interop/rp-apps/README.md).
//
// Run: node interop/rp-apps/openid_client_app.mjs, with APP_PORT, PSC_ISSUER, PSC_CLIENT_ID,
// PSC_CLIENT_SECRET and NODE_EXTRA_CA_CERTS (the simulator's CA; Node's fetch, which
// openid-client uses, trusts it; TLS verification is never turned off).
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import * as client from 'openid-client';

const PORT = Number(process.env.APP_PORT);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const REDIRECT_URI = `${ORIGIN}/callback`;
const POST_LOGOUT_REDIRECT_URI = `${ORIGIN}/logged-out`;
const ISSUER = new URL(process.env.PSC_ISSUER);
const CLIENT_ID = process.env.PSC_CLIENT_ID;
const CLIENT_SECRET = process.env.PSC_CLIENT_SECRET;
const ACR_LEVELS = ['eidas1', 'eidas2', 'eidas3']; // all at least eidas1
const COOKIE = 'rp_session';

// Discovery once, retried on the next login if the provider was not reachable.
let configuration;
async function getConfiguration() {
  configuration ??= client
    .discovery(
      ISSUER,
      CLIENT_ID,
      { id_token_signed_response_alg: 'RS256' }, // RS256 only, whatever discovery lists
      client.ClientSecretBasic(CLIENT_SECRET),
      // The ID token comes straight from the token endpoint over TLS, so openid-client does
      // not verify its signature by default; this is its switch for it (and signed UserInfo).
      { execute: [client.enableNonRepudiationChecks] },
    )
    .catch((error) => {
      configuration = undefined;
      throw error;
    });
  return configuration;
}

const sessions = new Map(); // cookie value -> { login?: {...}, user?: {...}, idToken? }

function sessionOf(req) {
  const cookie = (req.headers.cookie ?? '')
    .split(';')
    .map((part) => part.trim().split('='))
    .find(([name]) => name === COOKIE);
  const id = cookie?.[1];
  return id && sessions.has(id) ? { id, data: sessions.get(id) } : undefined;
}

function newSession(res, data) {
  const id = crypto.randomBytes(32).toString('base64url');
  sessions.set(id, data);
  res.setHeader('set-cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  return id;
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>RP openid-client</title>' +
      `</head><body>${body}</body></html>`,
  );
}

function redirect(res, location) {
  res.writeHead(302, { location: String(location), 'cache-control': 'no-store' });
  res.end();
}

function refuse(res, reason) {
  const body = `<p id="login-error">Connexion refusée : ${escape(reason)}</p><p><a href="/">Accueil</a></p>`;
  page(res, 401, body);
}

// A short reason from openid-client's errors: their messages and codes never hold the tokens.
function reasonOf(error) {
  if (
    error instanceof client.AuthorizationResponseError ||
    error instanceof client.ResponseBodyError
  ) {
    return `erreur du fournisseur (${error.error})`;
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const [challenge] = error.cause ?? [];
    const what = challenge?.parameters?.error ?? challenge?.scheme;
    return `accès refusé par le fournisseur (${what})`;
  }
  const cause = error?.cause instanceof Error ? error.cause.message : undefined;
  const detail = cause && cause !== error.message ? `: ${cause}` : '';
  return `${error?.message ?? 'erreur'}${detail}`.slice(0, 300);
}

async function login(req, res) {
  const config = await getConfiguration();
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid scope_all',
    acr_values: 'eidas1',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  const old = sessionOf(req);
  if (old) sessions.delete(old.id);
  newSession(res, { login: { state, nonce, codeVerifier } });
  redirect(res, url);
}

async function callback(req, res) {
  const session = sessionOf(req);
  const pending = session?.data.login;
  if (!pending) return refuse(res, 'aucune connexion en cours');
  delete session.data.login; // one attempt per authorization request
  const config = await getConfiguration();
  const tokens = await client.authorizationCodeGrant(config, new URL(req.url, ORIGIN), {
    pkceCodeVerifier: pending.codeVerifier,
    expectedState: pending.state,
    expectedNonce: pending.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  if (!ACR_LEVELS.includes(claims.acr)) {
    return refuse(res, `niveau d'authentification insuffisant (acr ${claims.acr ?? 'absent'})`);
  }
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  sessions.delete(session.id); // a new session id once logged in
  newSession(res, {
    user: { given_name: userinfo.given_name, family_name: userinfo.family_name },
    idToken: tokens.id_token,
  });
  redirect(res, '/');
}

async function logout(req, res) {
  const session = sessionOf(req);
  if (session) sessions.delete(session.id);
  res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
  if (!session?.data.idToken) return redirect(res, '/');
  const config = await getConfiguration();
  redirect(
    res,
    client.buildEndSessionUrl(config, {
      id_token_hint: session.data.idToken,
      post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI,
      state: client.randomState(),
    }),
  );
}

function home(req, res) {
  const user = sessionOf(req)?.data.user;
  if (!user) {
    const link = '<a id="psc-login" href="/login">Se connecter avec Pro Santé Connect</a>';
    return page(res, 200, link);
  }
  page(
    res,
    200,
    `<p id="who">${escape(user.given_name)} ${escape(user.family_name)}</p>` +
      '<a id="logout" href="/logout">Se déconnecter</a>',
  );
}

const routes = {
  '/': home,
  '/health': (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  },
  '/login': login,
  '/callback': callback,
  '/logout': logout,
  '/logged-out': (req, res) => page(res, 200, '<p id="logged-out">Vous êtes déconnecté.</p>'),
};

const server = http.createServer(async (req, res) => {
  const route = req.method === 'GET' ? routes[new URL(req.url, ORIGIN).pathname] : undefined;
  if (!route) return page(res, 404, '<p>Page introuvable</p>');
  try {
    await route(req, res);
  } catch (error) {
    console.error(`${req.url.split('?')[0]}: ${error?.code ?? ''} ${error?.message ?? error}`);
    if (!res.headersSent) refuse(res, reasonOf(error));
  }
});

await getConfiguration().catch((error) => console.error(`discovery failed: ${error.message}`));
server.listen(PORT, '127.0.0.1', () => console.log(`listening on ${ORIGIN}`));
