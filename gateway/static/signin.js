// medgate patient portal: sign-in as a SMART App Launch standalone launch (authorization code +
// PKCE S256) with this gateway as the authorisation server (docs/patient-sign-in.md). The access
// token lives in this page's memory only; the single-use refresh token in sessionStorage (this
// tab only, never sent by the browser on its own), so a reload continues the session. The
// authorization code arrives in the address once and is removed from it at once.
"use strict";

const CLIENT_ID = "medgate-portal";
const SCOPE = "launch/patient patient/*.read patient/Consent.write";
const PENDING = "medgate.signin.pending";
const REFRESH = "medgate.signin.refresh";
const session = { token: null, timer: null };

function b64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(n) { return b64url(crypto.getRandomValues(new Uint8Array(n))); }

function redirectUri() { return `${location.origin}/portal`; }

async function startSignIn() {
  const verifier = randomText(48);
  const state = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const query = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: redirectUri(), scope: SCOPE,
    state, code_challenge: b64url(digest), code_challenge_method: "S256",
  });
  location.assign(`/patient/authorize?${query}`);
}

async function tokenRequest(form) {
  const resp = await fetch("/patient/oauth/token", {
    method: "POST", body: new URLSearchParams(form), credentials: "omit", cache: "no-store",
  });
  if (!resp.ok) throw new Error(`sign-in refused (HTTP ${resp.status})`);
  const answer = await resp.json();
  session.token = answer.access_token;
  sessionStorage.setItem(REFRESH, answer.refresh_token);
  clearTimeout(session.timer);
  // Renew a little before the access token runs out; the refresh token is spent and replaced.
  const ms = Math.max(5, answer.expires_in - 30) * 1000;
  session.timer = setTimeout(() => refreshSession().catch(() => signedOut()), ms);
  return session.token;
}

function refreshSession() {
  const refresh = sessionStorage.getItem(REFRESH);
  if (!refresh) return Promise.resolve(null);
  sessionStorage.removeItem(REFRESH);
  return tokenRequest({ grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: refresh });
}

// The token of this page's session: from the redirect back (code), else a kept refresh token,
// else null (not signed in). Throws on a refused exchange or a state that does not match.
async function resumeSession() {
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) {
    history.replaceState(null, "", "/portal"); // the code leaves the address bar and history
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    sessionStorage.removeItem(PENDING);
    if (params.has("error")) throw new Error(params.get("error_description") || params.get("error"));
    if (!pending || pending.state !== params.get("state")) throw new Error("sign-in state mismatch");
    return tokenRequest({
      grant_type: "authorization_code", client_id: CLIENT_ID, code: params.get("code"),
      redirect_uri: redirectUri(), code_verifier: pending.verifier,
    });
  }
  return refreshSession();
}

async function signOut() {
  const refresh = sessionStorage.getItem(REFRESH);
  sessionStorage.removeItem(REFRESH);
  if (refresh) {
    await fetch("/patient/oauth/revoke", {
      method: "POST", body: new URLSearchParams({ token: refresh, client_id: CLIENT_ID }),
      credentials: "omit",
    });
  }
  signedOut();
}

function signedOut() {
  clearTimeout(session.timer);
  session.token = null;
  location.replace("/portal");
}
