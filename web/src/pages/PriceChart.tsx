// Candles of one instrument with SMA/EMA overlays, fills as markers and working orders as price lines.
import { useEffect, useRef } from "react";
import {
  CandlestickSeries, ColorType, createChart, createSeriesMarkers, LineSeries,
  type IChartApi, type IPriceLine, type ISeriesApi, type ISeriesMarkersPluginApi, type SeriesMarker, type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { ema, sma } from "../indicators";
import { nsToSeconds } from "../format";
import type { Bar, Fill, Order } from "../types";

export interface Overlays { sma: number | null; ema: number | null }

interface Parts {
  chart: IChartApi; candles: ISeriesApi<"Candlestick">; sma: ISeriesApi<"Line">; ema: ISeriesApi<"Line">;
  markers: ISeriesMarkersPluginApi<Time>; lines: IPriceLine[];
}

const t = (s: number) => s as UTCTimestamp;

export function PriceChart({ bars, fills, orders, overlays }: {
  bars: Bar[]; fills: Fill[]; orders: Order[]; overlays: Overlays;
}) {
  const box = useRef<HTMLDivElement>(null);
  const parts = useRef<Parts | null>(null);

  useEffect(() => {
    const chart = createChart(box.current as HTMLElement, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "#0f1720" }, textColor: "#c9d3dd" },
      grid: { vertLines: { color: "#1c2733" }, horzLines: { color: "#1c2733" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    const candles = chart.addSeries(CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350",
    });
    const line = { lineWidth: 2 as const, priceLineVisible: false, lastValueVisible: false };
    parts.current = {
      chart, candles, markers: createSeriesMarkers(candles, []), lines: [],
      sma: chart.addSeries(LineSeries, { ...line, color: "#f5a623", title: "SMA" }),
      ema: chart.addSeries(LineSeries, { ...line, color: "#7cb5ec", title: "EMA" }),
    };
    return () => { chart.remove(); parts.current = null; };
  }, []);

  useEffect(() => {
    const p = parts.current;
    if (!p) return;
    // One bar per second at most on the chart's time scale: a later bar with the same second replaces it.
    const bySecond = new Map<number, Bar>();
    for (const b of bars) bySecond.set(nsToSeconds(b.ts), b);
    const times = [...bySecond.keys()];
    const rows = [...bySecond.values()];
    p.candles.setData(rows.map((b, i) => ({ time: t(times[i]), open: b.open, high: b.high, low: b.low, close: b.close })));
    const closes = rows.map((b) => b.close);
    const asLine = (points: { time: number; value: number }[]) => points.map((x) => ({ time: t(x.time), value: x.value }));
    p.sma.setData(overlays.sma ? asLine(sma(times, closes, overlays.sma)) : []);
    p.ema.setData(overlays.ema ? asLine(ema(times, closes, overlays.ema)) : []);
  }, [bars, overlays.sma, overlays.ema]);

  useEffect(() => {
    const p = parts.current;
    if (!p) return;
    const markers: SeriesMarker<Time>[] = fills
      .map((f) => ({
        time: t(nsToSeconds(f.ts)),
        position: f.side === "buy" ? ("belowBar" as const) : ("aboveBar" as const),
        color: f.side === "buy" ? "#26a69a" : "#ef5350",
        shape: f.side === "buy" ? ("arrowUp" as const) : ("arrowDown" as const),
        text: `${f.side} ${f.quantity} @ ${f.price}`,
      }))
      .sort((a, b) => (a.time as number) - (b.time as number));
    p.markers.setMarkers(markers);
    for (const line of p.lines) p.candles.removePriceLine(line);
    p.lines = orders.flatMap((o) => {
      const price = o.limit_price ?? o.stop_price;
      if (!price) return [];
      return [p.candles.createPriceLine({
        price: Number(price), color: o.side === "buy" ? "#26a69a" : "#ef5350", lineWidth: 1, lineStyle: 2,
        axisLabelVisible: true, title: `${o.side} ${o.quantity} ${o.order_type}`,
      })];
    });
  }, [fills, orders]);

  return <div className="chart" ref={box} id="price-chart" data-bars={bars.length} data-fills={fills.length} />;
}
