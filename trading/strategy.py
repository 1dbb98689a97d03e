"""The strategy API, the same in backtests and live trading.

A strategy is a config (a pydantic model that rejects unknown fields and describes each one) plus a class
with hooks: `indicators(bars)` computes whole arrays once (TA-Lib over the full history in a backtest, over
the growing window live: same values either way), `on_start`, `on_bar`, `on_order_filled`, `on_order_event`,
`on_stop`. Inside `on_bar`, `self.value("name")` reads an indicator at the current bar.

A strategy never talks to a venue: it asks its `TradingContext` (the backtest engine, or the live strategy
host) to submit or cancel orders, and reads its position from it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from trading.data.bars import Bar, BarSeries
from trading.errors import ConfigError
from trading.messages import Message
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import Instrument
from trading.model.orders import ContingencyType, Order, OrderSide, OrderType, TimeInForce

ZERO = Decimal(0)
_BUY = OrderSide.BUY  # read per order; an Enum class attribute read is slow on Python 3.11 (EnumType.__getattr__)
_SELL = OrderSide.SELL
_NO_CONTINGENCY = ContingencyType.NONE


class StrategyConfig(BaseModel):
    """Base of every strategy's parameters. Unknown fields are errors; every field has a description."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    instrument_id: str = Field("DATA.SIM", description="Instrument traded, SYMBOL.VENUE")
    size: Decimal = Field(Decimal(1), gt=0, description="Order quantity per entry")
    broker: str = Field("", description="Broker to route to; empty = the routing rule decides")


def above_field(field: str, lower: str) -> Any:
    """A config validator: `field` must be greater than `lower` (e.g. slow above fast). It is attached to
    `field`, so a violation is reported under that key."""

    def check(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
        bound = info.data.get(lower)
        if bound is not None and bound >= value:
            raise ValueError(f"{lower} ({bound}) must be smaller than {field} ({value})")
        return value

    return field_validator(field)(classmethod(check))


class TradingContext(Protocol):
    """What a strategy may ask of the engine that hosts it."""

    def submit(self, order: Order) -> None: ...

    def cancel(self, client_order_id: ClientOrderId) -> None: ...

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal: ...

    def open_orders(self, instrument_id: InstrumentId) -> list[Order]: ...

    def has_open_orders(self, instrument_id: InstrumentId) -> bool: ...

    def instrument(self, instrument_id: InstrumentId) -> Instrument: ...

    def now_ns(self) -> int: ...

    def next_order_id(self, strategy_id: StrategyId) -> ClientOrderId: ...


C = TypeVar("C", bound=StrategyConfig)


class Strategy(Generic[C]):
    """Base class of user strategies. Subclasses set `name`, `config_class` and override the hooks."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[StrategyConfig]] = StrategyConfig
    description: ClassVar[str] = ""

    def __init__(self, config: C, strategy_id: str | None = None) -> None:
        self.config = config
        self.strategy_id = StrategyId(strategy_id or self.name or type(self).__name__)
        self.instrument_id = InstrumentId.parse(config.instrument_id)
        self.ind: dict[str, list[float]] = {}
        self.i = -1
        self._ctx: TradingContext | None = None

    # ------------------------------------------------------------------ hooks (override)
    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        """Whole-array indicators, each as long as `bars`; must be causal (no look-ahead)."""
        return {}

    def signals(
        self, bars: BarSeries, values: Mapping[str, npt.NDArray[np.float64]]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        """Long-only (entries, exits) arrays for the vectorized fast path, or None if this strategy's
        `on_bar` is not such a signal rule (then sweeps use the event-driven engine)."""
        return None

    def on_start(self) -> None:
        """Called once before the first bar."""

    def on_bar(self, bar: Bar) -> None:
        """Called for every validated bar, after orders were matched against it."""

    def on_order_filled(self, fill: Fill) -> None:
        """Called for every fill of this strategy's orders."""

    def on_order_event(self, event: Message) -> None:
        """Called for other order events: accepted, denied, rejected, canceled, expired."""

    def on_stop(self) -> None:
        """Called once after the last bar."""

    # ------------------------------------------------------------------ engine wiring
    def bind(self, ctx: TradingContext) -> None:
        self._ctx = ctx

    @property
    def ctx(self) -> TradingContext:
        if self._ctx is None:
            raise RuntimeError(f"strategy {self.strategy_id} is not attached to an engine")
        return self._ctx

    def set_indicators(
        self, values: Mapping[str, npt.NDArray[np.float64]], length: int, unchanged: int = 0
    ) -> None:
        """Store indicator arrays as Python lists: element access is far cheaper than numpy scalars.

        `unchanged`: how many leading values equal those stored by the previous call. Indicators are causal, so
        a live host that recomputes them over a longer history passes the length it had, and only the new
        values are converted (converting the whole history for every bar grew with the history)."""
        converted: dict[str, list[float]] = {}
        for key, array in values.items():
            if len(array) != length:
                raise ConfigError(f"strategy {self.name}: indicator {key!r} has {len(array)} values for {length} bars")
            known = self.ind.get(key)
            if known is not None and 0 < unchanged <= len(known):
                del known[unchanged:]
                known.extend(np.asarray(array[unchanged:], dtype=np.float64).tolist())
                converted[key] = known
            else:
                converted[key] = np.asarray(array, dtype=np.float64).tolist()
        self.ind = converted

    # ------------------------------------------------------------------ helpers for strategy code
    def value(self, name: str, ago: int = 0) -> float:
        """Indicator `name` at the current bar (`ago=1`: the bar before). NaN before it is defined."""
        index = self.i - ago
        return self.ind[name][index] if index >= 0 else float("nan")

    # The helpers below read `self._ctx` and fall back to the `ctx` property (which raises when unbound) only
    # when it is None: strategies call them for most bars, and a property call costs as much as the helper.
    @property
    def position(self) -> Decimal:
        ctx = self._ctx if self._ctx is not None else self.ctx
        return ctx.position_quantity(self.instrument_id)

    def is_flat(self) -> bool:
        return self.ctx.position_quantity(self.instrument_id) == 0

    def has_open_orders(self) -> bool:
        ctx = self._ctx if self._ctx is not None else self.ctx
        return ctx.has_open_orders(self.instrument_id)

    def order(
        self,
        side: OrderSide,
        quantity: Decimal | None = None,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trailing_offset: Decimal | None = None,
        trailing_percent: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        tags: dict[str, str] | None = None,
    ) -> Order:
        """Build an order for this strategy's instrument (not yet submitted)."""
        ctx = self._ctx if self._ctx is not None else self.ctx
        # Positional, in `Order`'s field order: a dataclass `__init__` called with sixteen keywords costs about
        # three times as much, and strategies build an order per signal.
        return Order(
            ctx.next_order_id(self.strategy_id),
            self.strategy_id,
            self.instrument_id,
            side,
            order_type,
            self.config.size if quantity is None else quantity,
            limit_price,
            stop_price,
            trailing_offset,
            trailing_percent,
            time_in_force,
            reduce_only,
            _NO_CONTINGENCY,
            (),  # linked_ids
            None,  # parent_id
            self.config.broker,
            ctx.now_ns(),  # ts_init
            tags or {},
        )

    def buy(self, quantity: Decimal | None = None, **kwargs: Any) -> Order:
        order = self.order(_BUY, quantity, **kwargs)
        self.ctx.submit(order)
        return order

    def sell(self, quantity: Decimal | None = None, **kwargs: Any) -> Order:
        order = self.order(_SELL, quantity, **kwargs)
        self.ctx.submit(order)
        return order

    def close_position(self) -> Order | None:
        """Send a market order that flattens the position (reduce-only); None if already flat."""
        ctx = self.ctx
        quantity = ctx.position_quantity(self.instrument_id)
        if quantity == 0:
            return None
        side = _SELL if quantity > 0 else _BUY
        order = self.order(side, abs(quantity), reduce_only=True)
        ctx.submit(order)
        return order

    def cancel_all(self) -> None:
        for order in self.ctx.open_orders(self.instrument_id):
            self.ctx.cancel(order.client_order_id)

    def bracket(
        self,
        side: OrderSide,
        *,
        stop_loss: Decimal,
        take_profit: Decimal,
        quantity: Decimal | None = None,
        entry_type: OrderType = OrderType.MARKET,
        entry_price: Decimal | None = None,
    ) -> tuple[Order, Order, Order]:
        """Entry plus an OCO pair (stop-loss, take-profit) that activates when the entry fills."""
        entry = self.order(
            side,
            quantity,
            order_type=entry_type,
            limit_price=entry_price if entry_type is OrderType.LIMIT else None,
            stop_price=entry_price if entry_type is OrderType.STOP else None,
        )
        exit_side = side.opposite
        stop = self.order(exit_side, entry.quantity, order_type=OrderType.STOP, stop_price=stop_loss, reduce_only=True)
        take = self.order(
            exit_side, entry.quantity, order_type=OrderType.LIMIT, limit_price=take_profit, reduce_only=True
        )
        entry.contingency = ContingencyType.OTO
        entry.linked_ids = (stop.client_order_id, take.client_order_id)
        for child, other in ((stop, take), (take, stop)):
            child.parent_id = entry.client_order_id
            child.contingency = ContingencyType.OCO
            child.linked_ids = (other.client_order_id,)
        self.ctx.submit(entry)
        self.ctx.submit(stop)
        self.ctx.submit(take)
        return entry, stop, take


StrategyType = type[Strategy[Any]]


def build_config(strategy_class: StrategyType, params: Mapping[str, Any]) -> StrategyConfig:
    """Validate parameters into the strategy's config; a bad or unknown key raises ConfigError naming it."""
    try:
        return strategy_class.config_class(**params)
    except ValidationError as exc:
        problems = []
        first_key: str | None = None
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "<config>"
            first_key = first_key or key
            if error["type"] == "extra_forbidden":
                known = ", ".join(sorted(strategy_class.config_class.model_fields))
                problems.append(f"unknown parameter {key!r} (known: {known})")
            else:
                problems.append(f"parameter {key!r}: {error['msg']} (got {error.get('input')!r})")
        raise ConfigError(f"strategy {strategy_class.name}: " + "; ".join(problems), key=first_key) from None


def load_strategy_class(import_path: str) -> StrategyType:
    """`package.module:ClassName` -> the class; raises ConfigError with a clear message."""
    module_name, _, class_name = import_path.partition(":")
    if not class_name:
        raise ConfigError(f"strategy path {import_path!r} is not 'module:Class'", key="import_path")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}", key="import_path") from exc
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"{import_path!r} is not a Strategy class", key="import_path")
    return cls


def describe_parameters(strategy_class: StrategyType) -> list[dict[str, Any]]:
    """Name, type, default and description of each parameter (for `dto strategies` and the API)."""
    rows = []
    for name, field in strategy_class.config_class.model_fields.items():
        annotation = field.annotation
        rows.append(
            {
                "name": name,
                "type": getattr(annotation, "__name__", str(annotation)),
                "default": None if field.is_required() else _jsonable(field.default),
                "description": field.description or "",
            }
        )
    return rows


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
