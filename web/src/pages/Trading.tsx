// Live candles per instrument with overlays, fills and working orders on the chart; the order ticket;
// positions with close buttons; orders with cancel.
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, get, query } from "../api";
import { Action, Card, ErrorLine, Pnl, StateBadge, Table } from "../components";
import { clock, isWorking, money } from "../format";
import { useData } from "../live";
import {
  closingOrder, needsLimit, needsStop, newClientOrderId, ORDER_TYPES, orderRequest, TicketError, TIME_IN_FORCE,
  type TicketForm,
} from "../ticket";
import type { Bar, Fill, Order, Positions } from "../types";
import { PriceChart, type Overlays } from "./PriceChart";

const TRADED = ["fill", "order", "position"];

function Ticket({ instrumentId, lastPrice }: { instrumentId: string; lastPrice: number | undefined }) {
  const [form, setForm] = useState<TicketForm>({
    instrument_id: instrumentId, side: "buy", order_type: "limit", quantity: "1", limit_price: "", stop_price: "",
    time_in_force: "gtc", reduce_only: false,
  });
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setForm((f) => ({ ...f, instrument_id: instrumentId })), [instrumentId]);
  const set = <K extends keyof TicketForm>(k: K, v: TicketForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let body;
    try {
      body = orderRequest(form, newClientOrderId());
    } catch (err) {
      setMessage({ text: (err as TicketError).message, error: true });
      return;
    }
    setBusy(true);
    api<Order>("POST", "/v1/orders", body).then(
      (o) => setMessage({ text: `${o.client_order_id}: ${o.status}${o.reason ? ` (${o.reason})` : ""}`, error: o.status === "denied" }),
      (err: ApiError) => setMessage({ text: err.field ? `${err.field}: ${err.message}` : err.message, error: true }),
    ).finally(() => setBusy(false));
  };
  return (
    <form className="ticket" id="order-ticket" onSubmit={submit}>
      <div className="sides">
        {(["buy", "sell"] as const).map((s) => (
          <button type="button" key={s} id={`side-${s}`} className={form.side === s ? `side ${s} on` : `side ${s}`}
            onClick={() => set("side", s)}>{s}</button>
        ))}
      </div>
      <label>type <select id="order-type" value={form.order_type}
        onChange={(e) => set("order_type", e.target.value as TicketForm["order_type"])}>
        {ORDER_TYPES.map((t) => <option key={t} value={t}>{t.replace("_", " ")}</option>)}
      </select></label>
      <label>quantity <input id="quantity" inputMode="decimal" value={form.quantity}
        onChange={(e) => set("quantity", e.target.value)} /></label>
      {needsLimit(form.order_type) && <label>limit price <input id="limit-price" inputMode="decimal"
        placeholder={lastPrice?.toFixed(2)} value={form.limit_price} onChange={(e) => set("limit_price", e.target.value)} /></label>}
      {needsStop(form.order_type) && <label>stop price <input id="stop-price" inputMode="decimal"
        placeholder={lastPrice?.toFixed(2)} value={form.stop_price} onChange={(e) => set("stop_price", e.target.value)} /></label>}
      <label>time in force <select id="time-in-force" value={form.time_in_force}
        onChange={(e) => set("time_in_force", e.target.value as TicketForm["time_in_force"])}>
        {TIME_IN_FORCE.map((t) => <option key={t} value={t}>{t}</option>)}
      </select></label>
      <label className="check"><input type="checkbox" id="reduce-only" checked={form.reduce_only}
        onChange={(e) => set("reduce_only", e.target.checked)} /> reduce only</label>
      <button type="submit" id="place-order" className={`primary ${form.side}`} disabled={busy}>
        {form.side} {form.quantity} {instrumentId}</button>
      {message && <p id="ticket-result" className={message.error ? "error" : "ok"} role="status">{message.text}</p>}
    </form>
  );
}

export default function Trading() {
  const last = useData(() => get<Bar[]>("/v1/market-data/last"), []);
  const [instrument, setInstrument] = useState("");
  const [overlays, setOverlays] = useState<Overlays>({ sma: 20, ema: 50 });
  useEffect(() => {
    if (!instrument && last.data?.length) setInstrument(last.data[0].instrument_id);
  }, [last.data, instrument]);
  const ready = instrument !== "";
  const bars = useData(
    () => (ready ? get<Bar[]>(`/v1/market-data/bars${query({ instrument_id: instrument, limit: 600 })}`) : Promise.resolve([])),
    ["fill", "order", "position", "runtime"], [instrument], 500,
  );
  const fills = useData(() => get<Fill[]>("/v1/fills?limit=5000"), ["fill"]);
  const orders = useData(
    () => (ready ? get<Order[]>(`/v1/orders${query({ instrument_id: instrument, limit: 200 })}`) : Promise.resolve([])),
    TRADED, [instrument],
  );
  const positions = useData(() => get<Positions>("/v1/positions"), ["fill", "position"]);
  const mine = (fills.data ?? []).filter((f) => f.instrument_id === instrument);
  const working = (orders.data ?? []).filter((o) => isWorking(o.status));
  const recent = (orders.data ?? []).slice().reverse();
  const lastPrice = bars.data?.length ? bars.data[bars.data.length - 1].close : undefined;
  const overlay = (name: keyof Overlays, text: string) => (
    <label className="check">{name.toUpperCase()} <input type="number" min={2} max={400} id={`overlay-${name}`}
      value={overlays[name] ?? ""} placeholder="off"
      onChange={(e) => setOverlays((o) => ({ ...o, [name]: e.target.value ? Number(e.target.value) : null }))}
      title={text} /></label>
  );
  return (
    <div className="grid trading">
      <Card title="Chart" wide id="chart-card">
        <div className="toolbar">
          <select id="instrument" value={instrument} onChange={(e) => setInstrument(e.target.value)}>
            {(last.data ?? []).map((b) => <option key={b.instrument_id} value={b.instrument_id}>{b.instrument_id}</option>)}
          </select>
          <span id="last-price" className="price">{lastPrice?.toFixed(2) ?? "-"}</span>
          {overlay("sma", "simple moving average period (empty: off)")}
          {overlay("ema", "exponential moving average period (empty: off)")}
          <span className="muted">{bars.data?.length ?? 0} bars, {mine.length} fills, {working.length} working</span>
        </div>
        <PriceChart bars={bars.data ?? []} fills={mine} orders={working} overlays={overlays} />
        <ErrorLine error={last.error || bars.error} />
      </Card>
      <Card title="Order ticket" id="ticket-card">
        {ready ? <Ticket instrumentId={instrument} lastPrice={lastPrice} /> : <p className="muted">no instrument has market data yet</p>}
      </Card>
      <Card title="Positions" id="positions-card">
        <Table id="positions" rows={positions.data?.positions} rowKey={(p) => `${p.account_id}/${p.instrument_id}`}
          empty="flat" columns={[
            { title: "account", cell: (p) => p.account_id },
            { title: "instrument", cell: (p) => p.instrument_id },
            { title: "quantity", cell: (p) => p.quantity, className: "num" },
            { title: "avg price", cell: (p) => money(p.avg_price), className: "num" },
            { title: "mark", cell: (p) => money(positions.data?.marks[p.instrument_id]), className: "num" },
            { title: "realized", cell: (p) => <Pnl value={p.realized_pnl} />, className: "num" },
            { title: "", cell: (p) => Number(p.quantity) === 0 ? null : <Action label="Close" className="danger"
              run={() => api("POST", "/v1/orders", closingOrder(p.instrument_id, p.quantity, newClientOrderId()))} /> },
          ]} />
        <ErrorLine error={positions.error} />
      </Card>
      <Card title={`Orders: ${instrument}`} wide id="orders-card">
        <Table id="orders" rows={orders.data && recent} rowKey={(o) => o.client_order_id} empty="no orders yet" columns={[
          { title: "time", cell: (o) => clock(o.ts_init) },
          { title: "client order id", cell: (o) => o.client_order_id },
          { title: "strategy", cell: (o) => o.strategy_id },
          { title: "side", cell: (o) => <span className={o.side}>{o.side}</span> },
          { title: "type", cell: (o) => o.order_type },
          { title: "qty", cell: (o) => o.quantity, className: "num" },
          { title: "price", cell: (o) => o.limit_price ?? o.stop_price ?? "", className: "num" },
          { title: "status", cell: (o) => <StateBadge state={o.status} /> },
          { title: "filled", cell: (o) => `${o.filled_quantity}${o.avg_fill_price ? ` @ ${money(o.avg_fill_price)}` : ""}` },
          { title: "reason", cell: (o) => o.reason },
          { title: "", cell: (o) => isWorking(o.status) && o.strategy_id === "manual" ? <Action label="Cancel"
            run={() => api("DELETE", `/v1/orders/${encodeURIComponent(o.client_order_id)}`).then(orders.reload)} /> : null },
        ]} />
        <ErrorLine error={orders.error || fills.error} />
      </Card>
    </div>
  );
}
