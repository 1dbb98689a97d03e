// The gateway's API over fetch, signed with a short-lived token. The API key is sent once, to
// POST /v1/auth/token, and never kept; the token lives in this tab's sessionStorage until it expires.
import type { TokenOut } from "./types";

const TOKEN = "dto-token";

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

interface Session { token: string; expiresAt: number; scopes: string[] }

let session: Session | null = load();
const signedOut = new Set<(why: string) => void>();

function load(): Session | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(TOKEN) ?? "null") as Session | null;
    return saved && saved.expiresAt > Date.now() ? saved : null;
  } catch {
    return null;
  }
}

export function currentSession(): Session | null {
  return session && session.expiresAt > Date.now() ? session : null;
}

export function onSignOut(listener: (why: string) => void): () => void {
  signedOut.add(listener);
  return () => signedOut.delete(listener);
}

export function signOut(why = ""): void {
  session = null;
  sessionStorage.removeItem(TOKEN);
  for (const listener of signedOut) listener(why);
}

async function errorOf(answer: Response): Promise<ApiError> {
  try {
    const body = (await answer.json()) as { error?: { code: string; message: string; field?: string } };
    if (body.error) return new ApiError(answer.status, body.error.code, body.error.message, body.error.field);
  } catch {
    // not JSON: fall through
  }
  return new ApiError(answer.status, "http_error", `${answer.status} ${answer.statusText}`);
}

/** Exchange an API key for a token (the key itself is not stored). */
export async function signIn(key: string): Promise<Session> {
  const answer = await fetch("/v1/auth/token", { method: "POST", headers: { "X-API-Key": key } });
  if (!answer.ok) throw await errorOf(answer);
  const token = (await answer.json()) as TokenOut;
  // Renew a little early: a request must not arrive just after the token died.
  session = { token: token.access_token, scopes: token.scopes, expiresAt: Date.now() + (token.expires_in - 5) * 1000 };
  sessionStorage.setItem(TOKEN, JSON.stringify(session));
  return session;
}

export function authHeaders(): Record<string, string> {
  const now = currentSession();
  if (now === null) {
    signOut("your session expired: sign in again");
    throw new ApiError(401, "unauthorized", "not signed in");
  }
  return { Authorization: `Bearer ${now.token}` };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers = authHeaders();
  const init: RequestInit = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const answer = await fetch(path, init);
  if (answer.status === 401) {
    const error = await errorOf(answer);
    signOut(error.message);
    throw error;
  }
  if (!answer.ok) throw await errorOf(answer);
  return (await answer.json()) as T;
}

export const get = <T>(path: string): Promise<T> => api<T>("GET", path);

export function query(params: Record<string, string | number | undefined | null>): string {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? `?${new URLSearchParams(pairs.map(([k, v]) => [k, String(v)])).toString()}` : "";
}
