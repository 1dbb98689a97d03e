"""Request and response models of the REST API. Requests reject unknown fields; numbers that are money or
quantities travel as decimal strings in responses (exact), and are accepted as strings or numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CLIENT_ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,47}$"
BROKER = r"^[a-z][a-z0-9_-]{0,30}$"


def _price(description: str = "") -> Any:
    return Field(None, gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False, description=description)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bracket(Request):
    """Exits that work once the entry fills, one cancelling the other: a stop-loss and a take-profit."""

    stop_loss: Decimal = Field(gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False,
                               description="stop price of the stop-loss (opposite side, the entry's quantity)")
    take_profit: Decimal = Field(gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False,
                                 description="limit price of the take-profit (opposite side, the entry's quantity)")
    stop_loss_limit: Decimal | None = _price("makes the stop-loss a stop-limit with this limit price")


class OcoLeg(Request):
    """The other order of a one-cancels-the-other pair: same instrument, side, quantity and time in force."""

    client_order_id: str | None = Field(None, pattern=CLIENT_ORDER_ID, description="default: <client_order_id>-oco")
    order_type: Literal["limit", "stop", "stop_limit", "trailing_stop"]
    limit_price: Decimal | None = _price()
    stop_price: Decimal | None = _price()
    trailing_offset: Decimal | None = _price("trailing stop: price distance")
    trailing_percent: Decimal | None = Field(None, gt=0, le=100, max_digits=12, decimal_places=8,
                                             allow_inf_nan=False, description="trailing stop: percent distance")

    @model_validator(mode="after")
    def _prices(self) -> OcoLeg:
        _check_prices(self.order_type, self.limit_price, self.stop_price, self.trailing_offset, self.trailing_percent)
        return self


def _check_prices(
    order_type: str, limit: Decimal | None, stop: Decimal | None, offset: Decimal | None, percent: Decimal | None
) -> None:
    if order_type in ("limit", "stop_limit") and limit is None:
        raise ValueError(f"a {order_type} order needs limit_price")
    if order_type in ("stop", "stop_limit") and stop is None:
        raise ValueError(f"a {order_type} order needs stop_price")
    if order_type == "trailing_stop" and (offset is None) == (percent is None):
        raise ValueError("a trailing_stop order needs exactly one of trailing_offset, trailing_percent")
    if order_type != "trailing_stop" and (offset is not None or percent is not None):
        raise ValueError(f"trailing_offset and trailing_percent are for trailing_stop orders, not {order_type}")


class OrderRequest(Request):
    client_order_id: str = Field(
        pattern=CLIENT_ORDER_ID,
        description="your id for this order: sending the same id again returns the same order (safe retries). "
        "Stored with the prefix `m-` (added unless the id already has it), so it never collides with a strategy's",
    )
    instrument_id: str = Field(min_length=3, max_length=64, description="e.g. SPX.PAPER")
    side: Literal["buy", "sell"]
    order_type: Literal["market", "limit", "stop", "stop_limit", "trailing_stop"] = "market"
    quantity: Decimal = Field(gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False)
    limit_price: Decimal | None = _price()
    stop_price: Decimal | None = _price()
    trailing_offset: Decimal | None = _price("trailing stop: price distance")
    trailing_percent: Decimal | None = Field(None, gt=0, le=100, max_digits=12, decimal_places=8,
                                             allow_inf_nan=False, description="trailing stop: percent distance")
    time_in_force: Literal["day", "gtc", "ioc", "fok"] = "gtc"
    reduce_only: bool = False
    broker: str | None = Field(None, pattern=BROKER, description="the broker (by name); default the runtime's first")
    bracket: Bracket | None = Field(None, description="this order is the entry of a bracket with these exits")
    oco: OcoLeg | None = Field(None, description="this order and `oco` form a one-cancels-the-other pair")

    @model_validator(mode="after")
    def _prices(self) -> OrderRequest:
        _check_prices(self.order_type, self.limit_price, self.stop_price, self.trailing_offset, self.trailing_percent)
        if self.bracket is not None and self.oco is not None:
            raise ValueError("send either bracket or oco, not both")
        return self


class OrderOut(BaseModel):
    client_order_id: str
    strategy_id: str
    instrument_id: str
    side: str
    order_type: str
    quantity: str
    limit_price: str | None = None
    stop_price: str | None = None
    trailing_offset: str | None = None
    trailing_percent: str | None = None
    time_in_force: str
    reduce_only: bool
    contingency: str = "none"
    linked_ids: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    broker: str = ""
    status: str
    filled_quantity: str
    avg_fill_price: str | None = None
    venue_order_id: str | None = None
    ts_init: int
    ts_last: int
    reason: str


class SubmittedOrder(OrderOut):
    """The order a POST made, and the orders linked to it in the same request (a bracket's exits, an OCO's
    other order); a venue that makes the legs itself (Alpaca) has none here."""

    linked_orders: list[OrderOut] = Field(default_factory=list)


class FillOut(BaseModel):
    seq: int
    broker: str = ""
    trade_id: str
    client_order_id: str
    strategy_id: str
    instrument_id: str
    side: str
    quantity: str
    price: str
    commission: str
    currency: str
    ts: int
    venue_order_id: str | None = None


class PositionOut(BaseModel):
    account_id: str | None = None
    strategy_id: str | None = None
    broker: str | None = None
    instrument_id: str
    quantity: str
    avg_price: str
    realized_pnl: str
    commissions: str


class PnLOut(BaseModel):
    realized: str
    unrealized: str
    commissions: str
    net: str


class PositionsOut(BaseModel):
    positions: list[PositionOut]
    strategy_positions: list[PositionOut]
    pnl: PnLOut
    account_pnl: dict[str, PnLOut] = Field(default_factory=dict, description="P&L per broker account")
    strategy_pnl: dict[str, PnLOut]
    marks: dict[str, str]


class AccountOut(BaseModel):
    """One broker's account as its venue reports it; `error` instead of the figures if the venue did not answer."""

    broker: str
    kind: str
    live: bool
    account_id: str | None = None
    currency: str | None = None
    cash: str | None = None
    equity: str | None = None
    buying_power: str | None = None
    balances: dict[str, str] = Field(default_factory=dict)
    error: str | None = None


class ParameterOut(BaseModel):
    name: str
    type: str
    default: Any = None
    description: str


class StrategyInfo(BaseModel):
    name: str
    model_based: bool
    parameters: list[ParameterOut]


class StrategyStatus(BaseModel):
    strategy_id: str
    strategy: str
    instrument_id: str
    state: str
    params: dict[str, Any]
    bars_seen: int
    pnl: PnLOut | None = None


class StrategyParams(Request):
    params: dict[str, Any] = Field(description="parameters to change; validated by the strategy's config")


class RiskState(BaseModel):
    state: str
    reason: str
    kill_switch: bool


class KillSwitch(Request):
    on: bool
    reason: str = Field(min_length=1, max_length=200)


class KillSwitchOut(RiskState):
    canceled: list[str] = Field(default_factory=list,
                                description="working orders asked to cancel at every venue (switching on)")


class Flatten(Request):
    reason: str = Field(min_length=1, max_length=200, description="recorded in the journal beside the orders")


class FlattenOut(BaseModel):
    orders: list[str] = Field(description="client order ids of the market orders sent to close the positions")


class PortfolioLimitsOut(BaseModel):
    max_gross_exposure: str | None = None
    max_net_exposure: str | None = None
    max_var: str | None = None
    max_es: str | None = None
    max_concentration_pct: str | None = None


class RiskLimitsOut(BaseModel):
    max_net_exposure: str | None = None
    max_var: str | None = None
    max_es: str | None = None
    max_concentration_pct: str | None = None
    accounts: dict[str, PortfolioLimitsOut] = {}
    max_order_quantity: str | None = None
    max_order_notional: str | None = None
    max_position_quantity: str | None = None
    max_gross_exposure: str | None = None
    max_open_orders: int | None = None
    max_orders_per_second: int | None = None
    price_band_pct: str | None = None
    daily_loss_limit: str | None = None
    max_drawdown_pct: str | None = None


class BarOut(BaseModel):
    instrument_id: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    scopes: list[str]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]


class StrategyAdd(Request):
    strategy: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,150}(:[A-Za-z_][A-Za-z0-9_]{0,60})?$",
        description="a built-in name (see /v1/strategies/available) or module:Class",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="validated by the strategy's config")
    strategy_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="default: the strategy's name"
    )


class RunOptions(Request):
    """Backtest options shared by backtests and sweeps (the meaning of `dto backtest`'s flags)."""

    cash: Decimal = Field(Decimal(10_000), gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False)
    size: Decimal = Field(Decimal(1), gt=0, max_digits=20, decimal_places=10, allow_inf_nan=False)
    fill: Literal["next_open", "close"] = "next_open"
    commission_pct: Decimal = Field(Decimal(0), ge=0, le=100, max_digits=12, decimal_places=8, allow_inf_nan=False)
    symbol: str = Field("DATA", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    timezone: str = Field("UTC", min_length=1, max_length=64, description="of naive timestamps in the file")


DATA_FIELD = "a bars file under the shipped data/ folder (GET /v1/research/datasets)"


class BacktestRequest(RunOptions):
    data: str = Field(min_length=1, max_length=200, description=DATA_FIELD)
    strategy: str = Field(min_length=1, max_length=200, description="a built-in name or module:Class")
    params: dict[str, Any] = Field(default_factory=dict, description="strategy parameters")


GridValues = list[str | int | float | bool] | str


class SweepRequest(RunOptions):
    data: list[str] = Field(min_length=1, max_length=4, description=DATA_FIELD)
    strategies: list[str] = Field(min_length=1, max_length=4)
    grid: dict[str, GridValues] = Field(
        default_factory=dict,
        description='parameter -> values (`[5, 10]`) or an inclusive range text (`"5:20:5"`); strategy.param '
        "scopes a parameter to one strategy",
    )
    metric: str = Field("sharpe", max_length=64, description="rank cells by this statistic")
    top: int = Field(10, ge=1, le=50)
    engine: Literal["auto", "vector", "event"] = "auto"


class JobOut(BaseModel):
    job_id: str
    kind: Literal["backtest", "sweep"]
    state: Literal["queued", "running", "succeeded", "failed"]
    request: dict[str, Any]
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class JobResults(BaseModel):
    job_id: str
    kind: Literal["backtest", "sweep"]
    result: dict[str, Any]


class ApiKeyOut(BaseModel):
    key_id: str
    prefix: str
    scopes: list[str]
    user: str | None = None
    created_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None
