// Sign-in, the page list (hash routes: #/trading), and the tab's one event stream.
import { lazy, Suspense, useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { currentSession, onSignOut, signIn, signOut } from "./api";
import { LiveContext, type Live } from "./live";
import { follow, type StreamState } from "./sse";
import type { StreamEvent } from "./types";
import { Overview } from "./pages/Overview";

const Trading = lazy(() => import("./pages/Trading"));
const Strategies = lazy(() => import("./pages/Strategies"));
const Risk = lazy(() => import("./pages/Risk"));
const Research = lazy(() => import("./pages/Research"));
const Events = lazy(() => import("./pages/Events"));

const PAGES = ["overview", "trading", "strategies", "risk", "research", "events"] as const;
type Page = (typeof PAGES)[number];
const KEEP_EVENTS = 500;

function pageOf(hash: string): Page {
  const name = hash.replace(/^#\/?/, "");
  return (PAGES as readonly string[]).includes(name) ? (name as Page) : "overview";
}

function SignIn({ why, done }: { why: string; done: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    signIn(key.trim()).then(done, (err: Error) => { setError(err.message); setBusy(false); });
  };
  return (
    <main className="signin">
      <form onSubmit={submit} id="signin">
        <h1>DTO command center</h1>
        <p className="muted">Sign in with an API key (<code>dto keys create --scope admin</code>). The key is exchanged
          for a short-lived token kept in this tab only.</p>
        <label>API key <input id="api-key" type="password" autoComplete="off" value={key} autoFocus
          onChange={(e) => setKey(e.target.value)} /></label>
        <button type="submit" id="sign-in" disabled={busy || !key.trim()}>Sign in</button>
        {(error || why) && <p className="error" role="alert">{error || why}</p>}
      </form>
    </main>
  );
}

function Shell() {
  const [page, setPage] = useState<Page>(pageOf(location.hash));
  const [state, setState] = useState<StreamState>("connecting");
  const [events, setEvents] = useState<StreamEvent[]>([]);
  const listeners = useRef(new Set<(e: StreamEvent) => void>());
  const subscribe = useCallback((listener: (e: StreamEvent) => void) => {
    listeners.current.add(listener);
    return () => { listeners.current.delete(listener); };
  }, []);

  useEffect(() => {
    const onHash = () => setPage(pageOf(location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    const stop = new AbortController();
    void follow((e) => {
      setEvents((old) => [e, ...old].slice(0, KEEP_EVENTS));
      for (const listener of listeners.current) listener(e);
    }, setState, stop.signal);
    return () => stop.abort();
  }, []);

  const live: Live = { state, events, subscribe };
  const scopes = currentSession()?.scopes ?? [];
  return (
    <LiveContext.Provider value={live}>
      <header>
        <strong>DTO</strong>
        <nav>
          {PAGES.map((p) => (
            <a key={p} href={`#/${p}`} id={`nav-${p}`} className={p === page ? "current" : ""}>{p}</a>
          ))}
        </nav>
        <span className={`stream stream-${state}`} id="stream-state" title="the live event stream">{state}</span>
        <span className="muted">{scopes.join(" ")}</span>
        <button type="button" id="sign-out" onClick={() => signOut("signed out")}>Sign out</button>
      </header>
      <main id={`page-${page}`}>
        <Suspense fallback={<p className="muted">loading...</p>}>
          {page === "overview" && <Overview />}
          {page === "trading" && <Trading />}
          {page === "strategies" && <Strategies />}
          {page === "risk" && <Risk />}
          {page === "research" && <Research />}
          {page === "events" && <Events />}
        </Suspense>
      </main>
    </LiveContext.Provider>
  );
}

export function App() {
  const [signedIn, setSignedIn] = useState(currentSession() !== null);
  const [why, setWhy] = useState("");
  useEffect(() => onSignOut((reason) => { setWhy(reason); setSignedIn(false); }), []);
  return signedIn ? <Shell /> : <SignIn why={why} done={() => { setWhy(""); setSignedIn(true); }} />;
}
