// The one event stream of the signed-in tab, shared by every page; and data that reloads when it says so.
import { createContext, useCallback, useContext, useEffect, useRef, useState } from "react";
import type { StreamEvent } from "./types";
import type { StreamState } from "./sse";

export interface Live {
  state: StreamState;
  events: StreamEvent[];
  subscribe: (listener: (e: StreamEvent) => void) => () => void;
}

export const LiveContext = createContext<Live>({ state: "down", events: [], subscribe: () => () => undefined });
export const useLive = (): Live => useContext(LiveContext);

export interface Loaded<T> { data: T | undefined; error: string; reload: () => void }

/** `load()` on mount, and again (at most every `settleMs`) after any stream event of the given `types`. */
export function useData<T>(load: () => Promise<T>, types: string[], deps: unknown[] = [], settleMs = 300): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState("");
  const live = useLive();
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => {
    loadRef.current().then(
      (value) => { setData(value); setError(""); },
      (e: Error) => setError(e.message),
    );
  }, []);
  useEffect(reload, deps); // eslint-disable-line react-hooks/exhaustive-deps
  const key = types.join(",");
  useEffect(() => {
    if (!types.length) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = live.subscribe((e) => {
      if (!types.includes(e.type) || timer !== undefined) return;
      timer = setTimeout(() => { timer = undefined; reload(); }, settleMs);
    });
    return () => { off(); if (timer !== undefined) clearTimeout(timer); };
  }, [key, live.subscribe, reload]); // eslint-disable-line react-hooks/exhaustive-deps
  return { data, error, reload };
}
