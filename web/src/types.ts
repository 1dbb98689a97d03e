// The API's shapes (serve_apps/schemas.py): money and quantities are decimal strings.

export interface TokenOut { access_token: string; expires_in: number; scopes: string[] }
export interface PnL { realized: string; unrealized: string; commissions: string; net: string }
export interface Position {
  account_id?: string | null; strategy_id?: string | null; instrument_id: string; quantity: string;
  avg_price: string; realized_pnl: string; commissions: string;
}
export interface Positions {
  positions: Position[]; strategy_positions: Position[]; pnl: PnL; strategy_pnl: Record<string, PnL>;
  marks: Record<string, string>;
}
export interface Account {
  account_id: string; currency: string; cash: string; equity: string; buying_power?: string | null;
  balances: Record<string, string>;
}
export interface RiskState { state: string; reason: string; kill_switch: boolean }
export type RiskLimits = Record<string, string | number | null>;
export interface Order {
  client_order_id: string; strategy_id: string; instrument_id: string; side: string; order_type: string;
  quantity: string; limit_price?: string | null; stop_price?: string | null; time_in_force: string;
  reduce_only: boolean; status: string; filled_quantity: string; avg_fill_price?: string | null;
  venue_order_id?: string | null; ts_init: number; ts_last: number; reason: string;
}
export interface Fill {
  seq: number; trade_id: string; client_order_id: string; strategy_id: string; instrument_id: string;
  side: string; quantity: string; price: string; commission: string; currency: string; ts: number;
}
export interface Bar { instrument_id: string; ts: number; open: number; high: number; low: number; close: number; volume: number }
export interface Parameter { name: string; type: string; default: unknown; description: string }
export interface StrategyInfo { name: string; model_based: boolean; parameters: Parameter[] }
export interface StrategyStatus {
  strategy_id: string; strategy: string; instrument_id: string; state: string; params: Record<string, unknown>;
  bars_seen: number; pnl?: PnL | null;
}
export interface Job {
  job_id: string; kind: "backtest" | "sweep"; state: "queued" | "running" | "succeeded" | "failed";
  request: Record<string, unknown>; error?: string | null; created_at?: string | null; started_at?: string | null;
  finished_at?: string | null;
}
export interface JobResults { job_id: string; kind: string; result: Record<string, unknown> }

/** One message of GET /v1/events. */
export interface StreamEvent { id: number; type: string; data: Record<string, unknown>; at: number }

/** What POST /v1/orders accepts. */
export interface OrderRequest {
  client_order_id: string; instrument_id: string; side: "buy" | "sell";
  order_type: "market" | "limit" | "stop" | "stop_limit"; quantity: string; limit_price?: string;
  stop_price?: string; time_in_force: "day" | "gtc" | "ioc" | "fok"; reduce_only: boolean;
}
