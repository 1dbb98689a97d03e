// The order ticket's rules, kept apart from the form so they are tested on their own.
import type { OrderRequest } from "./types";

export const ORDER_TYPES = ["market", "limit", "stop", "stop_limit"] as const;
export const TIME_IN_FORCE = ["gtc", "day", "ioc", "fok"] as const;

export interface TicketForm {
  instrument_id: string; side: "buy" | "sell"; order_type: OrderRequest["order_type"]; quantity: string;
  limit_price: string; stop_price: string; time_in_force: OrderRequest["time_in_force"]; reduce_only: boolean;
}

export const needsLimit = (t: OrderRequest["order_type"]): boolean => t === "limit" || t === "stop_limit";
export const needsStop = (t: OrderRequest["order_type"]): boolean => t === "stop" || t === "stop_limit";

const DECIMAL = /^\d+(\.\d{1,10})?$/;

function positive(text: string, name: string): string {
  const value = text.trim();
  if (!DECIMAL.test(value) || Number(value) <= 0) throw new TicketError(name, `${name} must be a positive number`);
  return value;
}

export class TicketError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** A new client order id: retrying a submit with the same id is safe (the API answers with the same order). */
export function newClientOrderId(now = Date.now(), random = Math.random): string {
  return `ui-${now.toString(36)}-${Math.floor(random() * 36 ** 6).toString(36).padStart(6, "0")}`;
}

/** The request for a ticket, or a TicketError naming the field (what the API would refuse with a 422). */
export function orderRequest(form: TicketForm, clientOrderId: string): OrderRequest {
  if (!form.instrument_id) throw new TicketError("instrument_id", "choose an instrument");
  const request: OrderRequest = {
    client_order_id: clientOrderId,
    instrument_id: form.instrument_id,
    side: form.side,
    order_type: form.order_type,
    quantity: positive(form.quantity, "quantity"),
    time_in_force: form.time_in_force,
    reduce_only: form.reduce_only,
  };
  if (needsLimit(form.order_type)) request.limit_price = positive(form.limit_price, "limit_price");
  if (needsStop(form.order_type)) request.stop_price = positive(form.stop_price, "stop_price");
  return request;
}

/** The market order that closes a position (reduce-only, so it can never open the other way). */
export function closingOrder(instrumentId: string, quantity: string, clientOrderId: string): OrderRequest {
  const long = !quantity.trim().startsWith("-");
  return {
    client_order_id: clientOrderId, instrument_id: instrumentId, side: long ? "sell" : "buy",
    order_type: "market", quantity: quantity.trim().replace(/^-/, ""), time_in_force: "gtc", reduce_only: true,
  };
}
