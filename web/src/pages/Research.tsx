// Launch a backtest from a form and watch the jobs' states.
import { useState, type FormEvent } from "react";
import { api, get } from "../api";
import { Card, ErrorLine, StateBadge, Table } from "../components";
import { useData } from "../live";
import type { Job, JobResults, StrategyInfo } from "../types";

export default function Research() {
  const datasets = useData(() => get<string[]>("/v1/research/datasets"), []);
  const catalog = useData(() => get<StrategyInfo[]>("/v1/strategies/available"), []);
  const jobs = useData(() => get<Job[]>("/v1/backtests?limit=20"), []);
  const [data, setData] = useState("");
  const [strategy, setStrategy] = useState("");
  const [error, setError] = useState("");
  const [result, setResult] = useState<JobResults | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    api<Job>("POST", "/v1/backtests", { data: data || datasets.data?.[0], strategy: strategy || catalog.data?.[0]?.name })
      .then(() => { setError(""); jobs.reload(); }, (err: Error) => setError(err.message));
  };
  return (
    <div className="grid">
      <Card title="Launch a backtest" id="backtest-card">
        <form onSubmit={submit} className="params">
          <label>data <select value={data} onChange={(e) => setData(e.target.value)}>
            {(datasets.data ?? []).map((d) => <option key={d}>{d}</option>)}</select></label>
          <label>strategy <select value={strategy} onChange={(e) => setStrategy(e.target.value)}>
            {(catalog.data ?? []).map((c) => <option key={c.name}>{c.name}</option>)}</select></label>
          <button type="submit" className="primary">Run backtest</button>
          <button type="button" onClick={jobs.reload}>Refresh states</button>
        </form>
        <ErrorLine error={error || datasets.error} />
      </Card>
      <Card title="Backtests" wide id="jobs-card">
        <Table rows={jobs.data} rowKey={(j) => j.job_id} empty="no backtest yet" columns={[
          { title: "job", cell: (j) => j.job_id },
          { title: "strategy", cell: (j) => String(j.request.strategy ?? "") },
          { title: "data", cell: (j) => String(j.request.data ?? "") },
          { title: "state", cell: (j) => <StateBadge state={j.state} /> },
          { title: "created", cell: (j) => j.created_at ?? "" },
          { title: "", cell: (j) => j.state === "succeeded" ? <button type="button"
            onClick={() => get<JobResults>(`/v1/backtests/${j.job_id}/results`).then(setResult, (err: Error) => setError(err.message))}>Results</button> : j.error ?? null },
        ]} />
        {result && <pre className="results">{JSON.stringify(result.result.stats ?? result.result, null, 2).slice(0, 4000)}</pre>}
      </Card>
    </div>
  );
}
