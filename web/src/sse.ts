// GET /v1/events read with fetch (EventSource cannot send the Authorization header), reconnecting with backoff.
import { authHeaders } from "./api";
import type { StreamEvent } from "./types";

export interface SseMessage { event: string; data: string }

/** Split a server-sent-event buffer into complete messages and the unfinished rest. Comments (`: ...`) and
 * messages without data are skipped; multi-line data is joined with newlines, as the spec says. */
export function parseSse(buffer: string): { messages: SseMessage[]; rest: string } {
  const messages: SseMessage[] = [];
  const text = buffer.replace(/\r\n?/g, "\n");
  let start = 0;
  for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n", start)) {
    let event = "message";
    const data: string[] = [];
    for (const line of text.slice(start, end).split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) messages.push({ event, data: data.join("\n") });
    start = end + 2;
  }
  return { messages, rest: text.slice(start) };
}

export type Listener = (event: StreamEvent) => void;
export type StreamState = "connecting" | "live" | "down";

/** Follow the stream until `signal` aborts; `onState` says whether it is live. */
export async function follow(onEvent: Listener, onState: (s: StreamState) => void, signal: AbortSignal): Promise<void> {
  let id = 0;
  let backoff = 500;
  while (!signal.aborted) {
    onState("connecting");
    try {
      const answer = await fetch("/v1/events", { headers: authHeaders(), signal });
      if (!answer.ok || answer.body === null) throw new Error(`events: ${answer.status}`);
      onState("live");
      backoff = 500;
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parsed = parseSse(buffer + value);
        buffer = parsed.rest;
        for (const m of parsed.messages) {
          let data: Record<string, unknown>;
          try {
            data = JSON.parse(m.data) as Record<string, unknown>;
          } catch {
            data = { text: m.data };
          }
          onEvent({ id: ++id, type: m.event, data, at: Date.now() });
        }
      }
    } catch (e) {
      if (signal.aborted || (e as { status?: number }).status === 401) return;
    }
    onState("down");
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10_000);
  }
}
