// Overlays drawn on the price chart.

export interface Point { time: number; value: number }

/** Simple moving average of `values` over `period` points; the first `period - 1` points have none. */
export function sma(times: number[], values: number[], period: number): Point[] {
  const out: Point[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= period) sum -= values[i - period];
    if (i >= period - 1) out.push({ time: times[i], value: sum / period });
  }
  return out;
}

/** Exponential moving average (alpha = 2 / (period + 1)), seeded with the SMA of the first `period` points. */
export function ema(times: number[], values: number[], period: number): Point[] {
  if (values.length < period) return [];
  const alpha = 2 / (period + 1);
  let value = values.slice(0, period).reduce((a, b) => a + b, 0) / period;
  const out: Point[] = [{ time: times[period - 1], value }];
  for (let i = period; i < values.length; i++) {
    value = alpha * values[i] + (1 - alpha) * value;
    out.push({ time: times[i], value });
  }
  return out;
}
