// The catalog (a form per strategy, generated from its config's parameters) and the running strategies:
// pause, resume, stop, change parameters.
import { useState, type FormEvent } from "react";
import { api, get } from "../api";
import { Action, Card, ErrorLine, Pnl, StateBadge, Table } from "../components";
import { useData } from "../live";
import type { Parameter, StrategyInfo, StrategyStatus } from "../types";

/** A form value as the parameter's type wants it (the API validates it again against the strategy's config). */
export function parseParameter(type: string, text: string): unknown {
  const t = text.trim();
  if (/^(int|float|Decimal|number)/i.test(type) && t !== "" && !Number.isNaN(Number(t))) return Number(t);
  if (/^bool/i.test(type)) return t === "true";
  return t;
}

function ParamForm({ parameters, initial, submitLabel, onSubmit, idPrefix }: {
  parameters: Parameter[]; initial: Record<string, unknown>; submitLabel: string; idPrefix: string;
  onSubmit: (params: Record<string, unknown>) => Promise<unknown>;
}) {
  const [values, setValues] = useState<Record<string, string>>(
    Object.fromEntries(parameters.map((p) => [p.name, String(initial[p.name] ?? p.default ?? "")])));
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const params: Record<string, unknown> = {};
    for (const p of parameters) {
      if (values[p.name] !== String(initial[p.name] ?? p.default ?? "")) params[p.name] = parseParameter(p.type, values[p.name]);
    }
    onSubmit(params).then(() => { setError(""); setDone("done"); }, (err: Error) => { setDone(""); setError(err.message); });
  };
  return (
    <form className="params" onSubmit={submit}>
      {parameters.map((p) => (
        <label key={p.name} title={p.description}>{p.name} <small className="muted">{p.type}</small>
          <input id={`${idPrefix}-${p.name}`} value={values[p.name]} onChange={(e) => setValues((v) => ({ ...v, [p.name]: e.target.value }))} /></label>
      ))}
      <button type="submit" className="primary">{submitLabel}</button>
      {done && <span className="ok">{done}</span>}
      <ErrorLine error={error} />
    </form>
  );
}

export default function Strategies() {
  const catalog = useData(() => get<StrategyInfo[]>("/v1/strategies/available"), []);
  const running = useData(() => get<StrategyStatus[]>("/v1/strategies"), ["fill", "position", "runtime"]);
  const [editing, setEditing] = useState("");
  const [ids, setIds] = useState<Record<string, string>>({});
  const control = (id: string, action: string) => () =>
    api("POST", `/v1/strategies/${encodeURIComponent(id)}/${action}`).then(running.reload);
  const catalogOf = (name: string) => catalog.data?.find((c) => c.name === name)?.parameters ?? [];
  return (
    <div className="grid">
      <Card title="Running" wide id="running-card">
        <Table id="running" rows={running.data} rowKey={(s) => s.strategy_id} empty="nothing is running" columns={[
          { title: "id", cell: (s) => s.strategy_id },
          { title: "strategy", cell: (s) => s.strategy },
          { title: "instrument", cell: (s) => s.instrument_id },
          { title: "state", cell: (s) => <StateBadge state={s.state} /> },
          { title: "bars", cell: (s) => s.bars_seen, className: "num" },
          { title: "net P&L", cell: (s) => <Pnl value={s.pnl?.net} />, className: "num" },
          { title: "parameters", cell: (s) => <code>{Object.entries(s.params).map(([k, v]) => `${k}=${String(v)}`).join(" ")}</code> },
          { title: "", cell: (s) => s.state === "stopped" ? null : <>
            {s.state === "paused" ? <Action label="Resume" run={control(s.strategy_id, "resume")} />
              : <Action label="Pause" run={control(s.strategy_id, "pause")} />}
            <Action label="Stop" className="danger" run={control(s.strategy_id, "stop")} />
            <button type="button" onClick={() => setEditing(editing === s.strategy_id ? "" : s.strategy_id)}>Parameters</button>
          </> },
        ]} />
        {editing && running.data?.find((s) => s.strategy_id === editing) && (() => {
          const s = running.data.find((x) => x.strategy_id === editing) as StrategyStatus;
          return <ParamForm key={editing} idPrefix={`edit-${editing}`} parameters={catalogOf(s.strategy).filter((p) => p.name !== "instrument_id")}
            initial={s.params} submitLabel={`Change ${editing}`}
            onSubmit={(params) => api("PATCH", `/v1/strategies/${encodeURIComponent(editing)}/params`, { params }).then(running.reload)} />;
        })()}
        <ErrorLine error={running.error} />
      </Card>
      {(catalog.data ?? []).map((c) => (
        <Card key={c.name} title={`${c.name}${c.model_based ? " (model)" : ""}`} id={`catalog-${c.name}`}>
          <label>strategy id <input value={ids[c.name] ?? ""} placeholder={c.name}
            onChange={(e) => setIds((v) => ({ ...v, [c.name]: e.target.value }))} /></label>
          <ParamForm idPrefix={`add-${c.name}`} parameters={c.parameters} initial={{}} submitLabel="Add strategy"
            onSubmit={(params) => api("POST", "/v1/strategies", { strategy: c.name, params, ...(ids[c.name] ? { strategy_id: ids[c.name] } : {}) }).then(running.reload)} />
        </Card>
      ))}
      <ErrorLine error={catalog.error} />
    </div>
  );
}
