"""The order manager's table rows: `order_row`, `fill_row` and `position_row` turn its objects into the rows of
`OrderStore`, `FillStore` and `PositionStore` (the queryable state; the journal stays the source of truth). Row
ids carry the run (`<run>/<client order id>`, `<run>/<trade id>`, account `<run>/<account>`): runs share one
database; `data` keeps the plain ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trading.model.fills import Fill
from trading.model.orders import Order
from trading.model.positions import Position
from trading.storage.repositories import FillRow, OrderRow, PositionRow


# ------------------------------------------------------------------------------------------ table rows
def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC)


def order_row(order: Order, run: str) -> OrderRow:
    return OrderRow(
        client_order_id=f"{run}/{order.client_order_id}",
        strategy_id=order.strategy_id,
        instrument_id=str(order.instrument_id),
        broker=order.broker or "paper",
        side=order.side.value,
        order_type=order.order_type.value,
        quantity=order.quantity,
        status=order.status.value,
        filled_qty=order.filled_quantity,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        avg_price=order.avg_fill_price,
        venue_order_id=order.venue_order_id,
        data={"run": run, "client_order_id": order.client_order_id, "reason": order.reason, "ts_last": order.ts_last},
    )


def fill_row(fill: Fill, currency: str, run: str) -> FillRow:
    return FillRow(
        fill_id=f"{run}/{fill.trade_id}",
        client_order_id=f"{run}/{fill.client_order_id}",
        instrument_id=str(fill.instrument_id),
        side=fill.side.value,
        quantity=fill.quantity,
        price=fill.price,
        commission=fill.commission,
        currency=currency,
        ts=_dt(fill.ts),
        data={
            "run": run,
            "strategy_id": fill.strategy_id,
            "trade_id": fill.trade_id,
            "client_order_id": fill.client_order_id,
        },
    )


def position_row(account_id: str, position: Position, run: str) -> PositionRow:
    return PositionRow(
        account_id=f"{run}/{account_id}",
        instrument_id=str(position.instrument_id),
        quantity=position.quantity,
        avg_price=position.avg_price if position.quantity != 0 else Decimal(0),
        realized_pnl=position.realized_pnl,
        data={"run": run, "commissions": str(position.commissions)},
    )
