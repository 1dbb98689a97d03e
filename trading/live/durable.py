"""Durable state for the live runtime: the paper broker's input log, and the order manager's table rows.

The paper broker is a deterministic function of its inputs (registrations, paced owners, bar batches, and the
owners' steps with their commands). `RecordingBroker` wraps one and appends every input that changes what the
broker knows to a journal (its own stream in the PostgreSQL event journal); `rebuild` replays those inputs
into a blank broker, which then holds exactly the state it had. A step that neither carried commands nor
produced events is not recorded: it only moved the book's matching pointers, and the next step's catch-up
moves them the same way (the book is matched bar by bar in the same order), so nothing anyone was told is
lost. A step whose answer never left the actor (it died while journaling) is not recorded either, and its
caller resends it (submissions are idempotent by client order id; a cancel of a closed order is a no-op).
Known limit: for futures-style (MARGIN) instruments the daily mark-to-market of a batch is replayed with the
batch, which may interleave differently with fills of steps that were not recorded.

`order_row`, `fill_row` and `position_row` turn the order manager's objects into the rows of `OrderStore`,
`FillStore` and `PositionStore` (the queryable state; the journal stays the source of truth). Row ids carry the
run (`<run>/<client order id>`, `<run>/<trade id>`, account `<run>/<account>`): a strategy's client order ids
restart at 000001 in every run, and runs share one database; `data` keeps the plain ids.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trading.brokers.paper import BrokerStep, PaperBroker
from trading.data.bars import Bar
from trading.live.journal import Journal, JournalEntryLike
from trading.messages import Message, message_from_dict
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.model.orders import Order
from trading.model.positions import Position
from trading.storage.repositories import FillRow, OrderRow, PositionRow

BROKER_STREAM_PREFIX = "broker"


# ----------------------------------------------------------------------------------------------- codecs
def encode_bars(bars: Sequence[Bar]) -> list[list[float | int]]:
    """Bars as JSON rows; floats survive JSON (and PostgreSQL's JSONB numeric) exactly."""
    return [[b.ts, b.open, b.high, b.low, b.close, b.volume, b.index] for b in bars]


def decode_bars(rows: Iterable[Sequence[float | int]]) -> list[Bar]:
    return [Bar(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), int(r[6])) for r in rows]


def encode_commands(commands: Sequence[Message]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in commands]


def decode_commands(rows: Iterable[dict[str, Any]]) -> list[Message]:
    return [message_from_dict(r) for r in rows]


def _encode_instrument(instrument: Instrument) -> str:
    # Our own frozen dataclass, stored by our own process in our own database: pickle is exact and short.
    return base64.b64encode(pickle.dumps(instrument)).decode()


def _decode_instrument(text: str) -> Instrument:
    value = pickle.loads(base64.b64decode(text))  # written by RecordingBroker above, in our own database
    if not isinstance(value, Instrument):
        raise TypeError(f"broker journal: expected an Instrument, got {type(value).__name__}")
    return value


# ------------------------------------------------------------------------------------ recording broker
class RecordingBroker:
    """A `PaperBroker` whose state-changing inputs are appended to `journal` (under `stream`)."""

    def __init__(self, broker: PaperBroker, journal: Journal | None, stream: str) -> None:
        self.broker = broker
        self.journal = journal
        self.stream = stream
        self.recorded = 0

    def _record(self, kind: str, payload: dict[str, Any], key: str | None = None) -> None:
        if self.journal is not None:
            self.journal.append(self.stream, kind, payload, key)
            self.recorded += 1

    def register(self, instrument: Instrument, bar_interval_ns: int | None = None) -> None:
        known = instrument.id in self.broker.ledger.instruments
        self.broker.register(instrument, bar_interval_ns)
        if not known:
            payload = {"instrument": _encode_instrument(instrument), "interval": bar_interval_ns}
            self._record("register", payload, f"register:{instrument.id}")

    def pace(self, owner: str) -> None:
        self.broker.pace(owner)
        self._record("pace", {"owner": owner}, f"pace:{owner}")

    def on_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> list[Message]:
        last = self.broker.last_bar(instrument_id)
        last_ts = last.ts if last is not None else None
        fresh = [b for b in bars if last_ts is None or b.ts > last_ts]
        events = self.broker.on_bars(instrument_id, fresh)
        if fresh:
            payload = {"instrument_id": str(instrument_id), "bars": encode_bars(fresh)}
            self._record("bars", payload, f"bars:{instrument_id}:{fresh[-1].ts}")
        return events

    def step(self, owner: str, instrument_id: InstrumentId, commands: Sequence[Message], done_ts: int) -> BrokerStep:
        result = self.broker.step(owner, instrument_id, commands, done_ts)
        if commands or result.events:
            payload = {
                "owner": owner,
                "instrument_id": str(instrument_id),
                "commands": encode_commands(commands),
                "done_ts": done_ts,
            }
            self._record("step", payload)
        return result

    def submit(self, order: Order) -> list[Message]:
        """A plain (unpaced) submission, e.g. a person's order; idempotent by client order id."""
        known = self.broker.find_order(order.client_order_id) is not None
        self.broker.submit(order)
        if not known:
            self._record("submit", {"order": order.to_dict()}, f"submit:{order.client_order_id}")
        return self.broker.drain(order.strategy_id)

    def cancel(self, client_order_id: ClientOrderId) -> list[Message]:
        """A plain cancel; a no-op for an unknown or closed order."""
        order = self.broker.find_order(client_order_id)
        if order is None or not order.is_open:
            return []
        self._cancel(client_order_id)
        self._record("cancel", {"client_order_id": client_order_id})
        return self.broker.drain(order.strategy_id)

    def _cancel(self, client_order_id: ClientOrderId) -> None:
        order = self.broker.find_order(client_order_id)
        if order is not None and order.is_open:
            self.broker.cancel_now(client_order_id)

    def rebuild(self, entries: Iterable[JournalEntryLike]) -> int:
        """Replay recorded inputs (in journal order) into the wrapped broker, without recording them again.
        Events the replay produces were handed out before: they are dropped. Returns how many were replayed."""
        broker = self.broker
        applied = 0
        for entry in entries:
            if entry.stream != self.stream:
                continue
            payload = entry.payload
            if entry.kind == "register":
                broker.register(_decode_instrument(payload["instrument"]), payload.get("interval"))
            elif entry.kind == "pace":
                broker.pace(payload["owner"])
            elif entry.kind == "bars":
                broker.on_bars(InstrumentId.parse(payload["instrument_id"]), decode_bars(payload["bars"]))
            elif entry.kind == "step":
                broker.step(
                    payload["owner"],
                    InstrumentId.parse(payload["instrument_id"]),
                    decode_commands(payload["commands"]),
                    int(payload["done_ts"]),
                )
            elif entry.kind == "submit":
                broker.submit(Order.from_dict(payload["order"]))
            elif entry.kind == "cancel":
                self._cancel(ClientOrderId(payload["client_order_id"]))
            else:
                continue
            applied += 1
        for owner in broker.owners():
            broker.drain(owner)
        return applied


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
