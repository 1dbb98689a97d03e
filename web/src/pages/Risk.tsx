// Firm-wide limits (edit), the kill switch behind a confirmation step, and the orders risk denied.
import { useEffect, useState, type FormEvent } from "react";
import { api, get } from "../api";
import { Card, ErrorLine, StateBadge, Table } from "../components";
import { clock } from "../format";
import { useData } from "../live";
import type { Order, RiskLimits, RiskState } from "../types";

function KillSwitch({ risk, changed }: { risk: RiskState; changed: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const turnOn = !risk.kill_switch;
  const confirm = (e: FormEvent) => {
    e.preventDefault();
    api<RiskState>("POST", "/v1/risk/kill-switch", { on: turnOn, reason: reason.trim() || "command center" }).then(
      () => { setConfirming(false); setReason(""); setError(""); changed(); },
      (err: Error) => setError(err.message),
    );
  };
  return (
    <div id="kill-switch">
      <p>Kill switch: <strong id="kill-state" className={risk.kill_switch ? "down" : "up"}>{risk.kill_switch ? "ON" : "off"}</strong></p>
      {!confirming && <button type="button" id="kill-toggle" className={turnOn ? "danger" : "primary"}
        onClick={() => setConfirming(true)}>{turnOn ? "Halt all trading..." : "Resume trading..."}</button>}
      {confirming && (
        <form className="confirm" onSubmit={confirm} role="dialog" aria-label="confirm the kill switch">
          <p>{turnOn ? "Every order from every strategy will be denied until the switch is off." : "Trading resumes for every strategy."}</p>
          <label>reason <input id="kill-reason" value={reason} maxLength={200} onChange={(e) => setReason(e.target.value)} /></label>
          <button type="submit" id="kill-confirm" className={turnOn ? "danger" : "primary"}>{turnOn ? "Confirm: kill switch ON" : "Confirm: kill switch off"}</button>
          <button type="button" id="kill-cancel" onClick={() => setConfirming(false)}>Cancel</button>
        </form>
      )}
      <ErrorLine error={error} />
    </div>
  );
}

function Limits() {
  const limits = useData(() => get<RiskLimits>("/v1/risk/limits"), []);
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [message, setMessage] = useState("");
  const [error, setError] = useState("");
  useEffect(() => {
    if (limits.data) setDraft(Object.fromEntries(Object.entries(limits.data).map(([k, v]) => [k, v === null ? "" : String(v)])));
  }, [limits.data]);
  const save = (e: FormEvent) => {
    e.preventDefault();
    const changes: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(draft)) {
      const before = limits.data?.[k];
      if (v.trim() !== (before === null || before === undefined ? "" : String(before))) changes[k] = v.trim() === "" ? null : v.trim();
    }
    if (!Object.keys(changes).length) { setMessage("nothing changed"); return; }
    api<RiskLimits>("PATCH", "/v1/risk/limits", changes).then(
      () => { setMessage(`changed: ${Object.keys(changes).join(", ")}`); setError(""); limits.reload(); },
      (err: Error) => setError(err.message),
    );
  };
  return (
    <form id="limits" onSubmit={save} className="limits">
      {Object.keys(draft).map((k) => (
        <label key={k}>{k.replace(/_/g, " ")}<input name={k} id={`limit-${k}`} value={draft[k]} placeholder="off"
          onChange={(e) => setDraft((d) => ({ ...d, [k]: e.target.value }))} /></label>
      ))}
      <button type="submit" id="save-limits" className="primary">Save limits</button>
      {message && <p className="ok" role="status">{message}</p>}
      <ErrorLine error={error || limits.error} />
    </form>
  );
}

export default function Risk() {
  const risk = useData(() => get<RiskState>("/v1/risk"), ["risk"], [], 50);
  const denied = useData(() => get<Order[]>("/v1/orders?status=denied&limit=100"), ["order"]);
  return (
    <div className="grid">
      <Card title="Trading state" id="risk-card">
        {risk.data ? <>
          <p>State: <span id="risk-state"><StateBadge state={risk.data.state} /></span> <span className="muted">{risk.data.reason}</span></p>
          <KillSwitch risk={risk.data} changed={risk.reload} />
        </> : <p className="muted">loading...</p>}
        <ErrorLine error={risk.error} />
      </Card>
      <Card title="Limits (firm-wide; empty = rule off)" id="limits-card"><Limits /></Card>
      <Card title="Denials" wide id="denials-card">
        <Table id="denials" rows={denied.data?.slice().reverse()} rowKey={(o) => o.client_order_id} empty="no order was denied"
          columns={[
            { title: "time", cell: (o) => clock(o.ts_init) },
            { title: "order", cell: (o) => o.client_order_id },
            { title: "strategy", cell: (o) => o.strategy_id },
            { title: "instrument", cell: (o) => o.instrument_id },
            { title: "side", cell: (o) => o.side },
            { title: "qty", cell: (o) => o.quantity, className: "num" },
            { title: "reason", cell: (o) => o.reason },
          ]} />
      </Card>
    </div>
  );
}
