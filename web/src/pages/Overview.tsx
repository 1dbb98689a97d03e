// Equity and P&L per account and firm-wide, the risk state, and what is running.
import { get } from "../api";
import { Card, ErrorLine, Pnl, StateBadge, Table } from "../components";
import { money } from "../format";
import { useData } from "../live";
import type { Account, Positions, RiskState, StrategyStatus } from "../types";

export function Overview() {
  const accounts = useData(() => get<Account[]>("/v1/accounts"), ["fill", "position"]);
  const positions = useData(() => get<Positions>("/v1/positions"), ["fill", "position"]);
  const risk = useData(() => get<RiskState>("/v1/risk"), ["risk"]);
  const strategies = useData(() => get<StrategyStatus[]>("/v1/strategies"), ["fill", "position", "runtime"]);
  const pnl = positions.data?.pnl;
  return (
    <div className="grid">
      <Card title="Firm" id="firm">
        <dl className="figures">
          <div><dt>equity</dt><dd id="firm-equity">
            {accounts.data ? money(String(accounts.data.reduce((s, a) => s + Number(a.equity), 0))) : "-"}</dd></div>
          <div><dt>net P&amp;L</dt><dd id="firm-pnl"><Pnl value={pnl?.net} /></dd></div>
          <div><dt>realized</dt><dd><Pnl value={pnl?.realized} /></dd></div>
          <div><dt>unrealized</dt><dd><Pnl value={pnl?.unrealized} /></dd></div>
          <div><dt>commissions</dt><dd>{money(pnl?.commissions)}</dd></div>
          <div><dt>risk</dt><dd id="risk-state">{risk.data ? <StateBadge state={risk.data.state} /> : "-"}
            {risk.data?.kill_switch && <span className="badge badge-halted">kill switch on</span>}</dd></div>
        </dl>
        {risk.data?.reason && <p className="muted">{risk.data.reason}</p>}
        <ErrorLine error={accounts.error || positions.error || risk.error} />
      </Card>
      <Card title="Accounts" id="accounts">
        <Table rows={accounts.data} rowKey={(a) => a.account_id} empty="no account" columns={[
          { title: "account", cell: (a) => a.account_id },
          { title: "cash", cell: (a) => money(a.cash), className: "num" },
          { title: "equity", cell: (a) => money(a.equity), className: "num" },
          { title: "buying power", cell: (a) => money(a.buying_power), className: "num" },
          { title: "currency", cell: (a) => a.currency },
        ]} />
      </Card>
      <Card title="Running strategies" id="running" wide>
        <Table id="strategies" rows={strategies.data} rowKey={(s) => s.strategy_id} empty="nothing is running" columns={[
          { title: "id", cell: (s) => s.strategy_id },
          { title: "strategy", cell: (s) => s.strategy },
          { title: "instrument", cell: (s) => s.instrument_id },
          { title: "state", cell: (s) => <StateBadge state={s.state} /> },
          { title: "bars", cell: (s) => s.bars_seen, className: "num" },
          { title: "net P&L", cell: (s) => <Pnl value={s.pnl?.net} />, className: "num" },
        ]} />
        <ErrorLine error={strategies.error} />
      </Card>
      <Card title="Positions" id="positions-overview" wide>
        <Table rows={positions.data?.strategy_positions} rowKey={(p) => `${p.strategy_id}/${p.instrument_id}`}
          empty="no positions" columns={[
            { title: "strategy", cell: (p) => p.strategy_id },
            { title: "instrument", cell: (p) => p.instrument_id },
            { title: "quantity", cell: (p) => p.quantity, className: "num" },
            { title: "avg price", cell: (p) => money(p.avg_price), className: "num" },
            { title: "realized", cell: (p) => <Pnl value={p.realized_pnl} />, className: "num" },
          ]} />
      </Card>
    </div>
  );
}
