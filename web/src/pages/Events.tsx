// The live event stream, filterable by type and text.
import { useState } from "react";
import { Card } from "../components";
import { useLive } from "../live";

const TYPES = ["order", "fill", "position", "risk", "runtime"];

export default function Events() {
  const { events, state } = useLive();
  const [shown, setShown] = useState(new Set(TYPES));
  const [text, setText] = useState("");
  const needle = text.trim().toLowerCase();
  const rows = events.filter((e) => shown.has(e.type) && (!needle || JSON.stringify(e.data).toLowerCase().includes(needle)));
  const toggle = (t: string) => setShown((s) => { const n = new Set(s); if (n.has(t)) n.delete(t); else n.add(t); return n; });
  return (
    <Card title={`Live events (${state})`} wide id="events-card">
      <div className="toolbar">
        {TYPES.map((t) => <label key={t} className="check"><input type="checkbox" id={`show-${t}`} checked={shown.has(t)}
          onChange={() => toggle(t)} /> {t}</label>)}
        <input id="event-filter" placeholder="filter: text in the event" value={text} onChange={(e) => setText(e.target.value)} />
        <span className="muted">{rows.length} of {events.length} kept</span>
      </div>
      <ol className="events" id="events">
        {rows.map((e) => (
          <li key={e.id} className={`event event-${e.type}`}>
            <time>{new Date(e.at).toLocaleTimeString()}</time> <b>{e.type}</b> <code>{JSON.stringify(e.data)}</code>
          </li>
        ))}
      </ol>
    </Card>
  );
}
