// Sign-in through an OAuth 2.0 authorization server: Cognito's hosted UI on a deployed stack, the local
// stack's look-alike (/oauth2/*) under `make dev`. Authorization code with PKCE (S256), then the refresh
// token keeps the session going; the ID token is the API's bearer token (Cognito's JWT authorizer).
//
// What to talk to comes from /config.json: the hosting construct writes it from the stack's outputs,
// the local stack serves its own.

const PENDING_KEY = "parley.oauth.pending";

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT (not verified: the API verifies; the client only reads its own token). */
export function claimsOf(token) {
  const part = token.split(".")[1] || "";
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const text = new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)));
  return JSON.parse(text);
}

export class OAuthError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "OAuthError";
    this.code = code;
  }
}

export class OAuth {
  /** @param {{authorize_url: string, token_url: string, client_id: string, scope?: string}} config */
  constructor(config) {
    this.config = config;
    this.redirectUri = `${location.origin}/`;
  }

  /** Go to the hosted UI; it comes back to this page with ?code=&state=. */
  async start(returnHash = "") {
    const verifier = randomString(48);
    const state = randomString(16);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, returnHash }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: this.config.client_id,
      redirect_uri: this.redirectUri,
      scope: this.config.scope || "openid profile",
      state,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: "S256",
    });
    location.assign(`${this.config.authorize_url}?${query}`);
  }

  /** On the way back from the hosted UI: the session, or null when this page load is not a return. */
  async complete() {
    const query = new URLSearchParams(location.search);
    if (!query.has("code") && !query.has("error")) return null;
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
    sessionStorage.removeItem(PENDING_KEY);
    history.replaceState(null, "", location.pathname + ((pending && pending.returnHash) || ""));
    if (query.has("error")) throw new OAuthError(query.get("error"), query.get("error_description") || "sign-in refused");
    if (!pending || pending.state !== query.get("state")) {
      throw new OAuthError("state_mismatch", "the sign-in did not start here; please try again");
    }
    const tokens = await this.tokenRequest({
      grant_type: "authorization_code",
      code: query.get("code"),
      redirect_uri: this.redirectUri,
      code_verifier: pending.verifier,
    });
    return this.session(tokens, tokens.refresh_token);
  }

  /** A new ID token from the refresh token (Cognito keeps the refresh token; so does this). */
  async refresh(session) {
    const tokens = await this.tokenRequest({ grant_type: "refresh_token", refresh_token: session.refresh_token });
    return this.session(tokens, tokens.refresh_token || session.refresh_token);
  }

  async tokenRequest(fields) {
    let response;
    try {
      response = await fetch(this.config.token_url, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams({ client_id: this.config.client_id, ...fields }),
      });
    } catch {
      throw new OAuthError("network", "Cannot reach the sign-in service.");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new OAuthError(body.error || `http_${response.status}`, body.error_description || "sign-in failed");
    return body;
  }

  session(tokens, refreshToken) {
    const claims = claimsOf(tokens.id_token);
    return {
      via: "oauth",
      user_id: claims.sub,
      name: claims.name || claims["cognito:username"] || claims.email || claims.sub,
      token: tokens.id_token,
      refresh_token: refreshToken,
      expires_at: claims.exp,
    };
  }
}

/** The client's configuration (/config.json); without one, the local sign-in only. */
export async function loadConfig() {
  try {
    const response = await fetch("/config.json", { headers: { Accept: "application/json" } });
    if (!response.ok) return {};
    return await response.json();
  } catch {
    return {};
  }
}
