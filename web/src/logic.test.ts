import { describe, expect, it } from "vitest";
import { parseSse } from "./sse";
import { closingOrder, newClientOrderId, orderRequest, TicketError, type TicketForm } from "./ticket";
import { ema, sma } from "./indicators";
import { isWorking, money, nsToSeconds, sign } from "./format";

const form: TicketForm = {
  instrument_id: "SPX.PAPER", side: "buy", order_type: "limit", quantity: "2", limit_price: "4500.25",
  stop_price: "", time_in_force: "gtc", reduce_only: false,
};

describe("parseSse", () => {
  it("splits complete messages and keeps the unfinished rest", () => {
    const { messages, rest } = parseSse(': connected\n\nevent: order\ndata: {"a":1}\n\nevent: fill\ndata: {"b"');
    expect(messages).toEqual([{ event: "order", data: '{"a":1}' }]);
    expect(rest).toBe('event: fill\ndata: {"b"');
  });
  it("joins multi-line data and accepts CRLF", () => {
    expect(parseSse("data: one\r\ndata: two\r\n\r\n").messages).toEqual([{ event: "message", data: "one\ntwo" }]);
  });
  it("skips keep-alive comments", () => {
    expect(parseSse(": keep-alive\n\n").messages).toEqual([]);
  });
});

describe("order ticket", () => {
  it("builds a limit order with its price", () => {
    expect(orderRequest(form, "ui-1")).toEqual({
      client_order_id: "ui-1", instrument_id: "SPX.PAPER", side: "buy", order_type: "limit", quantity: "2",
      limit_price: "4500.25", time_in_force: "gtc", reduce_only: false,
    });
  });
  it("leaves prices out of a market order", () => {
    expect(orderRequest({ ...form, order_type: "market" }, "x")).not.toHaveProperty("limit_price");
  });
  it("refuses a stop limit without its stop price, naming the field", () => {
    expect(() => orderRequest({ ...form, order_type: "stop_limit" }, "x")).toThrow(TicketError);
    try { orderRequest({ ...form, order_type: "stop_limit" }, "x"); } catch (e) { expect((e as TicketError).field).toBe("stop_price"); }
  });
  it("refuses a zero or malformed quantity", () => {
    for (const quantity of ["0", "-1", "1e3", "", "1.12345678901"]) {
      expect(() => orderRequest({ ...form, quantity }, "x")).toThrow(/quantity/);
    }
  });
  it("closes a long with a reduce-only sell and a short with a buy", () => {
    expect(closingOrder("SPX.PAPER", "3", "c")).toMatchObject({ side: "sell", quantity: "3", reduce_only: true, order_type: "market" });
    expect(closingOrder("SPX.PAPER", "-2.5", "c")).toMatchObject({ side: "buy", quantity: "2.5" });
  });
  it("makes client order ids the API accepts", () => {
    expect(newClientOrderId(1_700_000_000_000, () => 0.5)).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/);
  });
});

describe("indicators", () => {
  const t = [1, 2, 3, 4, 5];
  it("sma averages the last n", () => {
    expect(sma(t, [1, 2, 3, 4, 5], 3)).toEqual([{ time: 3, value: 2 }, { time: 4, value: 3 }, { time: 5, value: 4 }]);
  });
  it("ema starts at the sma and follows", () => {
    const out = ema(t, [1, 2, 3, 4, 5], 3);
    expect(out[0]).toEqual({ time: 3, value: 2 });
    expect(out[1].value).toBeCloseTo(3);
    expect(ema(t, [1, 2], 3)).toEqual([]);
  });
});

describe("format", () => {
  it("shows money with separators and keeps the sign", () => {
    expect(money("-12345.678")).toBe("-12,345.68");
    expect(money(null)).toBe("-");
    expect(sign("-0.01")).toBe(-1);
  });
  it("converts ns to whole seconds and knows working orders", () => {
    expect(nsToSeconds(1_700_000_000_500_000_000)).toBe(1_700_000_000);
    expect(isWorking("accepted")).toBe(true);
    expect(isWorking("filled")).toBe(false);
  });
});
