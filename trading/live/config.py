"""The runtime configuration: what `dto run --config FILE` starts, validated before anything starts.

```yaml
brokers:                      # one broker actor per entry (one venue account)
  - name: alpaca
    kind: alpaca              # paper | alpaca | ccxt | ib | degiro
    settings: {feed: iex}     # non-secret adapter settings (ALPACA_FEED ...); secrets only from the environment
strategies:
  - id: spy_cross
    strategy: sma_cross       # a built-in name (module:Class needs --allow-import-paths)
    params: {fast: 3, slow: 8}
    instrument: SPY.ALPACA
    broker: alpaca
    size: 1
risk: {max_order_quantity: 100, max_var: 5000}   # RiskLimits fields (portfolio limits also per account)
risk_model:                   # daily history the risk actor values books with (VaR/ES per instrument)
  history: {SPY.ALPACA: data/mplfinance/yahoofinance-SPY-20080101-20180101.csv}
  method: historical
  confidence: 0.99
replay:                       # paper brokers only: the real bars they (and the strategies) replay
  data: data/mplfinance/SP500_NOV2019_IDayRVol.csv
  speed: 60x
notifications:                # alerts: channels and rules (trading/alerts/config.py, docs/alerts.md)
  channels: [{name: ops, kind: webhook, url: "https://ops.example.com/dto"}]
  rules: [{rule: kill_switch, channels: [ops]}]
```

Every error names its key (`strategies[0].broker: unknown broker 'alpcaa'`); unknown keys are refused. Paper or
testnet is the default everywhere: a broker trades real money only with `live: true` in the file *and* the
confirmation flag on the command line (`dto run --live`), checked by `require_live_confirmation`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trading.alerts.config import NotificationsConfig
from trading.errors import ConfigError
from trading.model.identifiers import InstrumentId
from trading.risk.rules import RiskLimits

BrokerKind = Literal["paper", "alpaca", "ccxt", "ib", "degiro"]
SETTING_PREFIX = {"alpaca": "ALPACA", "ccxt": "CCXT", "ib": "IB", "degiro": "DEGIRO"}
# Setting names that hold secrets: refused in a config file (they come from the environment or the store).
SECRET_SETTINGS = frozenset({"API_KEY", "SECRET_KEY", "SECRET", "PASSWORD", "TOTP_SECRET", "INT_ACCOUNT"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerConfig(_Strict):
    """One venue account."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,30}$", description="The broker's name in this runtime")
    kind: BrokerKind = Field(description="paper, alpaca, ccxt, ib or degiro")
    live: bool = Field(False, description="Real money (needs --live on the command line too); else paper/testnet")
    settings: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Non-secret adapter settings, e.g. trading_url, feed, exchange"
    )
    cash: Decimal = Field(Decimal(1_000_000), gt=0, description="Paper only: starting cash")
    currency: str = Field("USD", description="Paper only: the account currency")

    @field_validator("settings")
    @classmethod
    def _no_secrets(cls, settings: dict[str, Any]) -> dict[str, Any]:
        for key in settings:
            if key.upper() in SECRET_SETTINGS:
                raise ValueError(f"{key!r} is a secret: set it in the environment or `dto credentials`, not here")
        return settings

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The adapter's settings as its environment variables: the process environment, then this file's
        `settings` (as `ALPACA_TRADING_URL` ...), then the paper/live choice."""
        merged = dict(os.environ if env is None else env)
        prefix = SETTING_PREFIX.get(self.kind)
        if prefix is None:
            return merged
        for key, value in self.settings.items():
            merged[f"{prefix}_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        if self.kind == "alpaca":
            merged["ALPACA_PAPER"] = "false" if self.live else "true"
        elif self.kind == "ccxt":
            sandbox = merged.get("CCXT_SANDBOX", "true").strip().lower() not in ("0", "false", "no", "off")
            if self.live:
                merged["CCXT_SANDBOX"] = "false"
            elif not sandbox and not merged.get("CCXT_URLS"):
                # Off the testnet and at the exchange's own URLs is real money: that needs live: true (and --live).
                raise ConfigError(
                    f"broker {self.name}: sandbox false at the exchange's real URLs trades real money; "
                    "set live: true (and confirm with --live), or keep the sandbox",
                    key="sandbox",
                )
        return merged


class StrategyConfigEntry(_Strict):
    """One running strategy."""

    id: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,23}$", description="Strategy id (prefix of its order ids; 24 characters)"
    )
    strategy: str = Field(description="A built-in strategy name (see `dto strategies`)")
    params: dict[str, Any] = Field(default_factory=dict, description="The strategy's parameters")
    instrument: str = Field(description="SYMBOL.VENUE, e.g. SPY.ALPACA")
    broker: str = Field(description="The broker (by name) its orders go to")
    size: Decimal = Field(Decimal(1), gt=0, description="Order quantity per entry")

    @field_validator("instrument")
    @classmethod
    def _instrument(cls, value: str) -> str:
        InstrumentId.parse(value)
        return value


class ReplayConfig(_Strict):
    """The bars paper brokers and their strategies replay (a shipped real session by default)."""

    data: str = Field(description="A bars file (CSV, freqtrade JSON, Parquet) under the project or an absolute path")
    instrument: str = Field("SPX.PAPER", description="The instrument id the bars are for (SYMBOL.VENUE)")
    speed: str = Field("max", description="max, realtime or Nx (e.g. 60x)")
    timezone: str = Field("UTC", description="Time zone of naive timestamps and of the session")
    session: str | None = Field(None, description="Trading session HH:MM-HH:MM in `timezone`")
    fill: Literal["next_open", "close"] = Field("next_open", description="When market orders fill")
    commission_per_unit: Decimal = Field(Decimal(0), ge=0, description="Paper fee per unit")


class RiskModelConfig(_Strict):
    """How the risk actor values the book: each instrument's daily bars (files the user names here), the VaR
    method, confidence and horizon."""

    history: dict[str, str] = Field(
        default_factory=dict, description="Daily bars file per instrument id (SYMBOL.VENUE): project path or absolute"
    )
    method: Literal["historical", "parametric", "montecarlo"] = Field("historical", description="VaR/ES method")
    confidence: float = Field(0.99, gt=0.5, lt=1, description="VaR/ES confidence, e.g. 0.99")
    horizon: int = Field(1, ge=1, le=250, description="Days the VaR/ES covers")
    benchmark: str | None = Field(None, description="Daily bars file of a benchmark (betas in the report)")
    on_bad_rows: Literal["raise", "drop"] = Field("raise", description="Bad rows in a history file: refuse or drop")
    every_s: float = Field(5.0, gt=0, description="Seconds between revaluations on a timer (market moves)")

    @field_validator("history")
    @classmethod
    def _instruments(cls, history: dict[str, str]) -> dict[str, str]:
        for instrument in history:
            InstrumentId.parse(instrument)
        return history


class RuntimeConfig(_Strict):
    """The whole runtime: brokers, strategies, risk limits, and the replay for paper brokers."""

    brokers: list[BrokerConfig] = Field(min_length=1, description="Venue accounts, one broker actor each")
    strategies: list[StrategyConfigEntry] = Field(default_factory=list, description="Strategies to run")
    risk: RiskLimits = Field(default_factory=RiskLimits, description="Firm-wide pre-trade limits")
    risk_model: RiskModelConfig | None = Field(None, description="Daily history for VaR/ES (the portfolio limits)")
    replay: ReplayConfig | None = Field(None, description="Paper brokers: the bars to replay")
    warmup_bars: int = Field(200, ge=0, le=10_000, description="Live: 1-minute bars of history per instrument")
    reconcile_every_s: float = Field(30.0, gt=0, description="Live: seconds between reconciliations")
    notifications: NotificationsConfig | None = Field(None, description="Alert channels and rules (docs/alerts.md)")

    @model_validator(mode="after")
    def _references(self) -> RuntimeConfig:
        names = [b.name for b in self.brokers]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ConfigError(f"brokers[{i}].name: {name!r} is used twice", key=f"brokers[{i}].name")
        ids = [s.id for s in self.strategies]
        for i, strategy in enumerate(self.strategies):
            if ids.index(strategy.id) != i:
                raise ConfigError(f"strategies[{i}].id: {strategy.id!r} is used twice", key=f"strategies[{i}].id")
            if strategy.broker not in names:
                raise ConfigError(
                    f"strategies[{i}].broker: unknown broker {strategy.broker!r} (this file has {names})",
                    key=f"strategies[{i}].broker",
                )
        if any(b.kind == "paper" for b in self.brokers) and self.replay is None:
            raise ConfigError("replay: a paper broker needs `replay.data` (the bars it trades on)", key="replay")
        return self

    def broker(self, name: str) -> BrokerConfig:
        return next(b for b in self.brokers if b.name == name)

    @property
    def live_brokers(self) -> list[BrokerConfig]:
        return [b for b in self.brokers if b.live]


def parse_runtime_config(data: Any, source: str = "config") -> RuntimeConfig:
    """Validate a loaded YAML document; every problem raises ConfigError naming its key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with brokers, strategies, ...", key="<config>")
    try:
        return RuntimeConfig.model_validate(data)
    except ConfigError:
        raise
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _key(error["loc"])
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"{source}: {key}: unknown key", key=key) from None
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            raise cause from None
        message = str(cause) if cause is not None else error["msg"]
        raise ConfigError(f"{source}: {key}: {message}", key=key) from None


def load_runtime_config(path: str | Path) -> RuntimeConfig:
    """Read and validate a runtime config file."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror}", key="config") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}", key="config") from None
    return parse_runtime_config(data, str(file))


def require_live_confirmation(config: RuntimeConfig, confirmed: bool) -> None:
    """Real money needs `live: true` on the broker and the command line's confirmation flag."""
    live = [b.name for b in config.live_brokers]
    if live and not confirmed:
        raise ConfigError(
            f"brokers {live} trade real money (live: true): confirm with --live, or set live: false", key="live"
        )


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<config>"
