// Numbers and times as the pages show them.

/** A decimal string (as the API sends money) with thousands separators and `digits` decimals. */
export function money(text: string | null | undefined, digits = 2): string {
  if (text === null || text === undefined || text === "") return "-";
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** -1, 0 or 1: the sign of a decimal string, for colouring P&L. */
export function sign(text: string | null | undefined): number {
  const n = Number(text ?? 0);
  return n > 0 ? 1 : n < 0 ? -1 : 0;
}

/** Nanoseconds since the epoch to whole seconds (what the chart's time scale takes). */
export const nsToSeconds = (ns: number): number => Math.floor(ns / 1e9);

export function clock(ns: number): string {
  return new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19);
}

const OPEN = new Set(["initialized", "submitted", "accepted", "triggered", "pending_update", "pending_cancel", "partially_filled"]);
export const isWorking = (status: string): boolean => OPEN.has(status);
