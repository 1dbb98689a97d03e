"""Portfolio risk figures from daily closes: VaR and expected shortfall, their per-position and per-strategy
contributions, exposures, concentration, correlation, beta, liquidity, and Kupiec's VaR backtest.

Conventions (docs/risk.md states them for users):

- Returns are simple close-to-close returns on the dates every series shares; a weighted portfolio is rebalanced
  daily to its weights, so its daily return is ``returns @ weights``. Weights are fractions of portfolio value
  and need not sum to 1 (shorts are negative; 0.6 and 0.6 is a 1.2x gross book).
- VaR and ES are positive fractions of portfolio value (a loss of 2% is 0.02).
- Historical: VaR is the loss at numpy's linear-interpolated percentile of the scenario losses; ES is the mean
  of the losses at or beyond it (the ``n - ceil((n - 1) c)`` largest). For a horizon of h days the scenarios
  are the overlapping h-day returns of the daily-rebalanced portfolio, compounded.
- Parametric (normal): mean and sample standard deviation (ddof=1) of the daily portfolio returns, scaled by
  the square-root-of-time rule: ``VaR_h = -h mu + sqrt(h) z_c sigma``, ``ES_h = -h mu + sqrt(h) sigma
  phi(z_c) / (1 - c)``.
- Monte Carlo (seeded): daily asset returns drawn from a normal or a Student-t (unit-variance scaled, so the
  covariance is the sample one) with the sample means and covariance; h daily draws per path compounded with
  daily rebalancing, then the historical estimator on the simulated paths.

Floats are right for these statistics; the money amounts that are booked (positions' market values) stay
Decimal in `Holding` and `ExposureReport`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from trading.data.bars import BarSeries, FloatArray, IntArray
from trading.errors import InvalidValue
from trading.risk.rules import BookPosition, BookRisk, PortfolioFigures, RiskBook, UnitRisk

__all__ = [
    "METHODS",
    "AlignedCloses",
    "ExposureReport",
    "Holding",
    "KupiecResult",
    "LiquidityReport",
    "PortfolioRiskReport",
    "RiskModel",
    "VarBacktest",
    "VarResult",
    "align_closes",
    "average_daily_volume",
    "backtest_var",
    "beta",
    "book_risk",
    "correlation_matrix",
    "exposures",
    "kupiec_pof",
    "liquidity",
    "portfolio_figures",
    "portfolio_returns",
    "portfolio_risk",
    "simple_returns",
    "simulate_portfolio_returns",
    "value_at_risk",
]

Method = Literal["historical", "parametric", "montecarlo"]
Distribution = Literal["normal", "t"]
METHODS: tuple[str, ...] = get_args(Method)
DISTRIBUTIONS: tuple[str, ...] = get_args(Distribution)
ZERO = Decimal(0)


# ------------------------------------------------------------------------------------------------ inputs
def simple_returns(closes: npt.ArrayLike) -> FloatArray:
    """Close-to-close simple returns along the first axis (one row fewer than `closes`)."""
    prices = np.asarray(closes, dtype=np.float64)
    if prices.shape[0] < 2:
        raise InvalidValue(f"need at least 2 closes for a return, got {prices.shape[0]}")
    if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise InvalidValue("closes must be finite and positive")
    out: FloatArray = prices[1:] / prices[:-1] - 1.0
    return out


@dataclass(frozen=True)
class AlignedCloses:
    """Closes of several instruments on the timestamps they all share: `closes[t, i]` at `ts[t]`."""

    names: tuple[str, ...]
    ts: IntArray
    closes: FloatArray

    def returns(self) -> FloatArray:
        """Simple returns, one row per shared date after the first."""
        return simple_returns(self.closes)


def align_closes(series: Sequence[BarSeries], names: Sequence[str] | None = None) -> AlignedCloses:
    """Inner-join the closes of `series` on their timestamps (the dates all of them share)."""
    if not series:
        raise InvalidValue("need at least one series")
    labels = tuple(names) if names is not None else tuple(s.source or f"asset{i}" for i, s in enumerate(series))
    if len(labels) != len(series):
        raise InvalidValue(f"{len(labels)} names for {len(series)} series")
    shared = series[0].ts
    for s in series[1:]:
        shared = np.intersect1d(shared, s.ts, assume_unique=True)
    if len(shared) < 2:
        raise InvalidValue(f"the series share {len(shared)} dates; need at least 2")
    columns = [s.close[np.searchsorted(s.ts, shared)] for s in series]
    return AlignedCloses(labels, shared.astype(np.int64), np.column_stack(columns).astype(np.float64))


def portfolio_returns(returns: npt.ArrayLike, weights: npt.ArrayLike) -> FloatArray:
    """Daily returns of a portfolio rebalanced daily to `weights` (fractions of its value)."""
    r, w = _matrix_and_weights(returns, weights)
    out: FloatArray = r @ w
    return out


def compounded(daily: FloatArray, horizon: int) -> FloatArray:
    """Overlapping `horizon`-day compounded returns of a daily return series (the series itself for 1)."""
    if horizon == 1:
        return daily
    out: FloatArray = np.prod(sliding_window_view(1.0 + daily, horizon), axis=-1) - 1.0
    return out


# ------------------------------------------------------------------------------------------------ VaR / ES
@dataclass(frozen=True)
class VarResult:
    """VaR and ES of one portfolio with their Euler contributions per position.

    `marginal_var[i]` is dVaR/dw_i; `component_var[i] = weights[i] * marginal_var[i]` and the components sum to
    `var` (likewise `component_es` to `es`).
    """

    method: str
    confidence: float
    horizon: int
    var: float
    es: float
    scenarios: int
    names: tuple[str, ...]
    weights: tuple[float, ...]
    marginal_var: tuple[float, ...]
    component_var: tuple[float, ...]
    component_es: tuple[float, ...]
    distribution: str | None = None
    paths: int | None = None
    seed: int | None = None

    def by_group(self, groups: Sequence[str]) -> dict[str, dict[str, float]]:
        """Component VaR and ES summed per group (a strategy per position); Euler components add up."""
        if len(groups) != len(self.names):
            raise InvalidValue(f"{len(groups)} groups for {len(self.names)} positions")
        out: dict[str, dict[str, float]] = {}
        for g, cv, ce in zip(groups, self.component_var, self.component_es, strict=True):
            row = out.setdefault(g, {"component_var": 0.0, "component_es": 0.0})
            row["component_var"] += cv
            row["component_es"] += ce
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "confidence": self.confidence,
            "horizon": self.horizon,
            "var": self.var,
            "es": self.es,
            "scenarios": self.scenarios,
            "distribution": self.distribution,
            "paths": self.paths,
            "seed": self.seed,
            "positions": [
                {"name": n, "weight": w, "marginal_var": m, "component_var": cv, "component_es": ce}
                for n, w, m, cv, ce in zip(
                    self.names, self.weights, self.marginal_var, self.component_var, self.component_es, strict=True
                )
            ],
        }


def value_at_risk(
    returns: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    confidence: float,
    method: str = "historical",
    horizon: int = 1,
    names: Sequence[str] | None = None,
    paths: int = 10_000,
    seed: int = 0,
    distribution: str = "normal",
    dof: float = 5.0,
) -> VarResult:
    """VaR and ES of the daily-rebalanced portfolio `weights` over daily asset `returns` (T x N, or T for one
    asset), as positive fractions of portfolio value, with per-position contributions."""
    r, w = _matrix_and_weights(returns, 1.0 if weights is None else weights)
    _check(confidence, method, horizon, r.shape[0], distribution, dof, paths)
    labels = tuple(names) if names is not None else tuple(f"asset{i}" for i in range(r.shape[1]))
    if len(labels) != r.shape[1]:
        raise InvalidValue(f"{len(labels)} names for {r.shape[1]} assets")
    extra: dict[str, Any] = {}
    if method == "parametric":
        var, es, marginal, marginal_es = _parametric(r, w, confidence, horizon)
        scenarios = r.shape[0]
    else:
        if method == "historical":
            port, per_asset = _historical_scenarios(r, w, horizon)
        else:
            port, per_asset = _simulated_scenarios(r, w, horizon, paths, seed, distribution, dof)
            extra = {"distribution": distribution, "paths": paths, "seed": seed}
        var, es, marginal, marginal_es = _tail(port, per_asset, w, confidence)
        scenarios = len(port)
    return VarResult(
        method=method,
        confidence=confidence,
        horizon=horizon,
        var=var,
        es=es,
        scenarios=scenarios,
        names=labels,
        weights=tuple(w.tolist()),
        marginal_var=tuple(marginal.tolist()),
        component_var=tuple((w * marginal).tolist()),
        component_es=tuple((w * marginal_es).tolist()),
        **extra,
    )


def _matrix_and_weights(returns: npt.ArrayLike, weights: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[1] == 0:
        raise InvalidValue(f"returns must be T x N, got shape {r.shape}")
    w = np.atleast_1d(np.asarray(weights, dtype=np.float64))
    if w.shape != (r.shape[1],):
        raise InvalidValue(f"{w.size} weights for {r.shape[1]} assets")
    if not np.all(np.isfinite(w)):
        raise InvalidValue(f"weights must be finite, got {w.tolist()}")
    if not np.all(np.isfinite(r)):
        raise InvalidValue("returns contain NaN or infinity")
    return r, w


def _check(
    confidence: float, method: str, horizon: int, observations: int, distribution: str, dof: float, paths: int
) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidValue(f"confidence must be between 0 and 1 (e.g. 0.99), got {confidence}")
    if method not in METHODS:
        raise InvalidValue(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if horizon < 1:
        raise InvalidValue(f"horizon must be at least 1 day, got {horizon}")
    if observations < max(2, horizon):
        raise InvalidValue(f"{observations} daily returns are too few for a {horizon}-day horizon")
    if distribution not in DISTRIBUTIONS:
        raise InvalidValue(f"unknown distribution {distribution!r}; expected one of {', '.join(DISTRIBUTIONS)}")
    if distribution == "t" and not dof > 2.0:
        raise InvalidValue(f"Student-t degrees of freedom must exceed 2 (finite variance), got {dof}")
    if paths < 2:
        raise InvalidValue(f"paths must be at least 2, got {paths}")


def _tail_count(n: int, confidence: float) -> int:
    # The losses at or beyond numpy's linear-interpolated percentile sit at sorted positions >= (n - 1) c.
    return n - math.ceil((n - 1) * confidence)


def _tail(
    port: FloatArray, per_asset: FloatArray, w: FloatArray, confidence: float
) -> tuple[float, float, FloatArray, FloatArray]:
    """Scenario VaR and ES, with tail-scenario Euler contributions.

    ES contributions are the mean loss of each position over the tail scenarios (exact for one-day
    scenarios); VaR contributions are the same shares scaled to VaR, since a single quantile scenario is too
    noisy to attribute.
    """
    losses = -port
    n = len(losses)
    var = float(np.percentile(losses, 100.0 * confidence))
    k = _tail_count(n, confidence)
    tail_idx = np.argpartition(losses, n - k)[n - k :]
    es = float(losses[tail_idx].mean())
    tail_loss_per_unit: FloatArray = -per_asset[tail_idx].mean(axis=0)
    total = float(w @ tail_loss_per_unit)
    if total == 0.0:
        zero = np.zeros_like(w)
        return var, es, zero, zero
    return var, es, tail_loss_per_unit * (var / total), tail_loss_per_unit * (es / total)


def _historical_scenarios(r: FloatArray, w: FloatArray, horizon: int) -> tuple[FloatArray, FloatArray]:
    port = compounded(r @ w, horizon)
    per_asset = r if horizon == 1 else sliding_window_view(r, horizon, axis=0).sum(axis=-1)
    return port, per_asset


def _simulated_scenarios(
    r: FloatArray, w: FloatArray, horizon: int, paths: int, seed: int, distribution: str, dof: float
) -> tuple[FloatArray, FloatArray]:
    mu = r.mean(axis=0)
    root = _covariance_root(np.atleast_2d(np.cov(r, rowvar=False, ddof=1)))
    rng = np.random.default_rng(seed)
    n = r.shape[1]
    port = np.ones(paths)
    per_asset = np.zeros((paths, n))
    for _ in range(horizon):
        draws = rng.standard_normal((paths, n)) @ root.T
        if distribution == "t":
            # Multivariate t with the sample covariance: scale by sqrt((nu-2)/nu) so its variance is Sigma.
            mix = np.sqrt(rng.chisquare(dof, paths) / dof)
            draws *= math.sqrt((dof - 2.0) / dof) / mix[:, None]
        day = draws + mu
        port *= 1.0 + day @ w
        per_asset += day
    return port - 1.0, per_asset


def simulate_portfolio_returns(
    returns: npt.ArrayLike,
    weights: npt.ArrayLike,
    *,
    horizon: int = 1,
    paths: int = 10_000,
    seed: int = 0,
    distribution: str = "normal",
    dof: float = 5.0,
) -> FloatArray:
    """The simulated `horizon`-day portfolio returns behind the Monte Carlo VaR (same seed, same paths)."""
    r, w = _matrix_and_weights(returns, weights)
    _check(0.5, "montecarlo", horizon, r.shape[0], distribution, dof, paths)
    return _simulated_scenarios(r, w, horizon, paths, seed, distribution, dof)[0]


def _covariance_root(cov: FloatArray) -> FloatArray:
    try:
        root: FloatArray = np.asarray(np.linalg.cholesky(cov), dtype=np.float64)
    except np.linalg.LinAlgError:
        # Singular (e.g. the same series twice): the symmetric root still reproduces the covariance.
        vals, vecs = np.linalg.eigh(cov)
        scaled: FloatArray = vecs * np.sqrt(np.clip(vals, 0.0, None))
        return scaled
    return root


def _parametric(
    r: FloatArray, w: FloatArray, confidence: float, horizon: int
) -> tuple[float, float, FloatArray, FloatArray]:
    port = r @ w
    mu = float(port.mean())
    sigma = float(port.std(ddof=1))
    z = float(stats.norm.ppf(confidence))
    tail = float(stats.norm.pdf(z)) / (1.0 - confidence)
    root_h = math.sqrt(horizon)
    var = -horizon * mu + root_h * z * sigma
    es = -horizon * mu + root_h * tail * sigma
    asset_mu = r.mean(axis=0)
    if sigma > 0.0:
        cov_w = np.atleast_2d(np.cov(r, rowvar=False, ddof=1)) @ w
        d_sigma = cov_w / sigma
    else:
        d_sigma = np.zeros_like(w)
    marginal: FloatArray = -horizon * asset_mu + root_h * z * d_sigma
    marginal_es: FloatArray = -horizon * asset_mu + root_h * tail * d_sigma
    return var, es, marginal, marginal_es


# ------------------------------------------------------------------------------------------------ backtest
@dataclass(frozen=True)
class KupiecResult:
    """Kupiec's proportion-of-failures test: is the observed exception rate consistent with 1 - confidence?"""

    observations: int
    exceptions: int
    expected_rate: float
    observed_rate: float
    lr: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "observations": self.observations,
            "exceptions": self.exceptions,
            "expected_rate": self.expected_rate,
            "observed_rate": self.observed_rate,
            "lr": self.lr,
            "p_value": self.p_value,
        }


def kupiec_pof(exceptions: int, observations: int, confidence: float) -> KupiecResult:
    """The likelihood ratio -2 ln[L(p) / L(x/n)] with p = 1 - confidence, chi-squared with 1 degree of freedom."""
    if observations < 1 or not 0 <= exceptions <= observations:
        raise InvalidValue(f"need 0 <= exceptions <= observations >= 1, got {exceptions} of {observations}")
    p = 1.0 - confidence
    x, n = exceptions, observations
    rate = x / n

    def log_likelihood(q: float) -> float:
        # 0 * log(0) is 0: a rate of exactly 0 or 1 is the maximum-likelihood estimate when x is 0 or n.
        return float((n - x) * _log_or_zero(1.0 - q, n - x) + x * _log_or_zero(q, x))

    lr = max(0.0, -2.0 * (log_likelihood(p) - log_likelihood(rate)))
    return KupiecResult(n, x, p, rate, lr, float(stats.chi2.sf(lr, 1)))


def _log_or_zero(q: float, count: int) -> float:
    return 0.0 if count == 0 else math.log(q)


@dataclass(frozen=True)
class VarBacktest:
    """Each day's loss against the VaR computed from the `window` days before it, with Kupiec's test."""

    method: str
    confidence: float
    window: int
    distribution: str | None
    first_ts: int
    last_ts: int
    kupiec: KupiecResult
    exception_ts: tuple[int, ...] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "distribution": self.distribution,
            "confidence": self.confidence,
            "window": self.window,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            **self.kupiec.to_dict(),
        }


def backtest_var(
    returns: npt.ArrayLike,
    ts: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    confidence: float = 0.99,
    method: str = "historical",
    window: int = 250,
    paths: int = 10_000,
    seed: int = 0,
    distribution: str = "normal",
    dof: float = 5.0,
) -> VarBacktest:
    """Count the days whose loss exceeded the prior day's one-day VaR (estimated on the `window` returns
    before it) and test the count with Kupiec's POF. `ts[t]` dates `returns[t]`."""
    r, w = _matrix_and_weights(returns, 1.0 if weights is None else weights)
    stamps = np.asarray(ts, dtype=np.int64)
    if len(stamps) != r.shape[0]:
        raise InvalidValue(f"{len(stamps)} timestamps for {r.shape[0]} returns")
    _check(confidence, method, 1, window, distribution, dof, paths)
    if r.shape[0] <= window:
        raise InvalidValue(f"{r.shape[0]} returns leave no day to test after a {window}-day window")
    port = r @ w
    losses = -port[window:]
    if method == "historical":
        windows = sliding_window_view(port, window)[:-1]
        var = np.percentile(-windows, 100.0 * confidence, axis=1)
    elif method == "parametric":
        windows = sliding_window_view(port, window)[:-1]
        z = float(stats.norm.ppf(confidence))
        var = -windows.mean(axis=1) + z * windows.std(axis=1, ddof=1)
    else:
        # Each day's simulation is seeded by seed + its index, so any one day can be recomputed alone.
        var = np.array(
            [
                np.percentile(
                    -_simulated_scenarios(r[t - window : t], w, 1, paths, seed + t, distribution, dof)[0],
                    100.0 * confidence,
                )
                for t in range(window, r.shape[0])
            ]
        )
    hits = losses > var
    return VarBacktest(
        method=method,
        confidence=confidence,
        window=window,
        distribution=distribution if method == "montecarlo" else None,
        first_ts=int(stamps[window]),
        last_ts=int(stamps[-1]),
        kupiec=kupiec_pof(int(hits.sum()), len(losses), confidence),
        exception_ts=tuple(int(t) for t in stamps[window:][hits]),
    )


# ------------------------------------------------------------------------------------------------ the book
@dataclass(frozen=True)
class Holding:
    """One position as the risk figures see it: signed quantity at a price, owned by a strategy."""

    instrument: str
    quantity: Decimal
    price: Decimal
    strategy: str = "portfolio"
    asset_class: str = "equity"
    multiplier: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        for name in ("quantity", "price", "multiplier"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise InvalidValue(f"{self.instrument}: {name} must be a finite Decimal, got {value!r}")
        if self.price <= 0:
            raise InvalidValue(f"{self.instrument}: price must be positive, got {self.price}")

    @property
    def market_value(self) -> Decimal:
        return self.quantity * self.price * self.multiplier


@dataclass(frozen=True)
class ExposureReport:
    """Gross and net exposure (money), per strategy, and concentration by |market value|."""

    long: Decimal
    short: Decimal
    gross: Decimal
    net: Decimal
    by_strategy: dict[str, dict[str, Decimal]]
    largest: str
    largest_share: float
    herfindahl: float
    gross_leverage: float | None

    @property
    def effective_positions(self) -> float:
        """1 / Herfindahl: how many equal positions the book is as concentrated as."""
        return 1.0 / self.herfindahl if self.herfindahl > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "long": str(self.long),
            "short": str(self.short),
            "gross": str(self.gross),
            "net": str(self.net),
            "by_strategy": {k: {n: str(v) for n, v in row.items()} for k, row in self.by_strategy.items()},
            "largest": self.largest,
            "largest_share": self.largest_share,
            "herfindahl": self.herfindahl,
            "effective_positions": self.effective_positions,
            "gross_leverage": self.gross_leverage,
        }


def exposures(holdings: Sequence[Holding], equity: Decimal | None = None) -> ExposureReport:
    """Long, short, gross and net exposure; largest share and Herfindahl index of |market value| / gross."""
    values = [h.market_value for h in holdings]
    long = sum((v for v in values if v > 0), ZERO)
    short = sum((v for v in values if v < 0), ZERO)
    gross = long - short
    by_strategy: dict[str, dict[str, Decimal]] = {}
    for h, v in zip(holdings, values, strict=True):
        row = by_strategy.setdefault(h.strategy, {"gross": ZERO, "net": ZERO})
        row["gross"] += abs(v)
        row["net"] += v
    if gross > 0:
        shares = [float(abs(v) / gross) for v in values]
        top = max(range(len(values)), key=lambda i: shares[i])
        largest, largest_share, hhi = holdings[top].instrument, shares[top], sum(s * s for s in shares)
    else:
        largest, largest_share, hhi = "", 0.0, 0.0
    leverage = float(gross / equity) if equity is not None and equity > 0 else None
    return ExposureReport(long, short, gross, long + short, by_strategy, largest, largest_share, hhi, leverage)


def correlation_matrix(returns: npt.ArrayLike) -> FloatArray:
    """Pearson correlation of the columns of `returns` (T x N)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise InvalidValue(f"returns must be T x N with T >= 2, got shape {r.shape}")
    out: FloatArray = np.atleast_2d(np.corrcoef(r, rowvar=False))
    return out


def beta(returns: npt.ArrayLike, benchmark: npt.ArrayLike) -> float:
    """Beta of `returns` to `benchmark` (same dates): cov / var, both with ddof=1."""
    a = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise InvalidValue(f"beta needs two equal-length return series, got {a.shape} and {b.shape}")
    var_b = float(b.var(ddof=1))
    if var_b == 0.0:
        raise InvalidValue("the benchmark's returns do not vary: beta is undefined")
    return float(np.cov(a, b, ddof=1)[0, 1]) / var_b


def average_daily_volume(series: BarSeries, window: int = 20) -> float:
    """Mean volume of the last `window` bars."""
    if window < 1 or len(series) == 0:
        raise InvalidValue(f"need a window >= 1 and a non-empty series, got {window} and {len(series)} bars")
    return float(series.volume[-window:].mean())


@dataclass(frozen=True)
class LiquidityReport:
    """Days to exit each position trading `participation` of its average daily volume."""

    participation: float
    days_to_exit: dict[str, float]

    @property
    def worst(self) -> tuple[str, float]:
        name = max(self.days_to_exit, key=lambda k: self.days_to_exit[k])
        return name, self.days_to_exit[name]

    def to_dict(self) -> dict[str, Any]:
        name, days = self.worst if self.days_to_exit else ("", 0.0)
        return {
            "participation": self.participation,
            "days_to_exit": dict(self.days_to_exit),
            "worst": {"instrument": name, "days": days},
        }


def liquidity(
    holdings: Sequence[Holding], adv: Mapping[str, float], participation: float = 0.1
) -> LiquidityReport:
    """|quantity| / (participation x average daily volume) per position; infinite when the volume is 0."""
    if not 0.0 < participation <= 1.0:
        raise InvalidValue(f"participation must be in (0, 1], got {participation}")
    days: dict[str, float] = {}
    for h in holdings:
        if h.instrument not in adv:
            raise InvalidValue(f"no average daily volume for {h.instrument}")
        tradable = participation * adv[h.instrument]
        qty = float(abs(h.quantity))
        days[h.instrument] = qty / tradable if tradable > 0 else (math.inf if qty > 0 else 0.0)
    return LiquidityReport(participation, days)


# ------------------------------------------------------------------------------------------------ one call
@dataclass(frozen=True)
class PortfolioRiskReport:
    """Everything the risk view shows for a book: VaR/ES with contributions, exposures, correlation, betas,
    liquidity."""

    equity: Decimal
    var: VarResult
    var_amount: Decimal
    es_amount: Decimal
    by_strategy: dict[str, dict[str, float]]
    exposure: ExposureReport
    correlation: FloatArray
    betas: dict[str, float]
    liquidity: LiquidityReport
    first_ts: int
    last_ts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "equity": str(self.equity),
            "var": self.var.var,
            "es": self.var.es,
            "var_amount": str(self.var_amount),
            "es_amount": str(self.es_amount),
            "detail": self.var.to_dict(),
            "by_strategy": self.by_strategy,
            "exposure": self.exposure.to_dict(),
            "correlation": {"names": list(self.var.names), "matrix": self.correlation.tolist()},
            "betas": self.betas,
            "liquidity": self.liquidity.to_dict(),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }


def portfolio_risk(
    holdings: Sequence[Holding],
    history: Mapping[str, BarSeries],
    *,
    confidence: float = 0.99,
    method: str = "historical",
    horizon: int = 1,
    equity: Decimal | None = None,
    benchmark: BarSeries | None = None,
    participation: float = 0.1,
    adv_window: int = 20,
    paths: int = 10_000,
    seed: int = 0,
    distribution: str = "normal",
) -> PortfolioRiskReport:
    """Risk of today's `holdings` from each instrument's daily bars in `history` (keyed by instrument).

    Weights are market value / `equity` (default: the net market value). Betas are to `benchmark` when given.
    """
    if not holdings:
        raise InvalidValue("no holdings")
    missing = [h.instrument for h in holdings if h.instrument not in history]
    if missing:
        raise InvalidValue(f"no price history for {', '.join(missing)}")
    book = exposures(holdings, equity)
    value = equity if equity is not None else book.net
    if value <= 0:
        raise InvalidValue(f"portfolio value must be positive to express risk as a fraction, got {value}")
    names = [h.instrument for h in holdings]
    aligned = align_closes([history[n] for n in names], names)
    returns = aligned.returns()
    weights = np.array([float(h.market_value / value) for h in holdings])
    result = value_at_risk(
        returns, weights, confidence=confidence, method=method, horizon=horizon, names=names,
        paths=paths, seed=seed, distribution=distribution,
    )
    betas: dict[str, float] = {}
    if benchmark is not None:
        with_bench = align_closes([*(history[n] for n in names), benchmark], [*names, "__benchmark__"])
        joint = with_bench.returns()
        betas = {n: beta(joint[:, i], joint[:, -1]) for i, n in enumerate(names)}
        betas["portfolio"] = beta(joint[:, :-1] @ weights, joint[:, -1])
    cents = Decimal("0.01")
    return PortfolioRiskReport(
        equity=value,
        var=result,
        var_amount=(value * Decimal(repr(result.var))).quantize(cents),
        es_amount=(value * Decimal(repr(result.es))).quantize(cents),
        by_strategy=result.by_group([h.strategy for h in holdings]),
        exposure=book,
        correlation=correlation_matrix(returns),
        betas=betas,
        liquidity=liquidity(holdings, {n: average_daily_volume(history[n], adv_window) for n in names}, participation),
        first_ts=int(aligned.ts[0]),
        last_ts=int(aligned.ts[-1]),
    )


# ------------------------------------------------------------------------------------------------ live book
@dataclass(frozen=True)
class RiskModel:
    """What the live risk actor values books with: each instrument's daily bars (keyed by instrument id), the
    method, confidence and horizon, an optional benchmark for betas, and how often to revalue on a timer."""

    history: Mapping[str, BarSeries]
    method: str = "historical"
    confidence: float = 0.99
    horizon: int = 1
    benchmark: BarSeries | None = None
    every_s: float = 5.0

    def __post_init__(self) -> None:
        _check(self.confidence, self.method, self.horizon, 10**9, "normal", 5.0, 2)
        if self.every_s <= 0:
            raise InvalidValue(f"every_s must be positive, got {self.every_s}")


def _gradients(
    r: FloatArray, w: FloatArray, model: RiskModel
) -> tuple[float, float, FloatArray, FloatArray]:
    """VaR and ES (fractions) of weights `w` with their marginal figures dVaR/dw and dES/dw."""
    if model.method == "parametric":
        return _parametric(r, w, model.confidence, model.horizon)
    if model.method == "historical":
        port, per_asset = _historical_scenarios(r, w, model.horizon)
    else:
        port, per_asset = _simulated_scenarios(r, w, model.horizon, 10_000, 0, "normal", 5.0)
    return _tail(port, per_asset, w, model.confidence)


def book_risk(
    positions: Sequence[BookPosition], marks: Mapping[str, Decimal], equity: Decimal, model: RiskModel | None
) -> BookRisk:
    """One book's figures: exposures and concentration at `marks`, VaR and ES (money) of the modelled positions,
    and for every instrument of the model how VaR and ES grow per unit of market value bought or sold (the
    gradient of a book that holds something; the standalone VaR/ES of a long or a short for a flat one)."""
    quantities: dict[str, Decimal] = {}
    values: dict[str, Decimal] = {}
    for p in positions:
        quantities[p.instrument] = quantities.get(p.instrument, ZERO) + p.quantity
        mark = marks.get(p.instrument)
        if mark is not None:
            values[p.instrument] = values.get(p.instrument, ZERO) + p.quantity * mark * p.multiplier
    quantities = {i: q for i, q in quantities.items() if q != 0}
    values = {i: v for i, v in values.items() if v != 0}
    long = sum((v for v in values.values() if v > 0), ZERO)
    short = sum((v for v in values.values() if v < 0), ZERO)
    largest = max(values, key=lambda i: abs(values[i]), default="")
    largest_pct = float(abs(values[largest]) * 100 / equity) if largest and equity > 0 else 0.0
    history = model.history if model is not None else {}
    unmodelled = tuple(sorted(i for i in values if i not in history))
    var = es = 0.0
    per_unit: dict[str, UnitRisk] = {}
    names = sorted(history)
    if model is not None and names:
        returns = align_closes([history[n] for n in names], names).returns()
        held = np.array([float(values.get(n, ZERO)) for n in names])
        if np.any(held != 0):
            # Weights are fractions of the book's value (h-day returns compound); VaR/ES back in money.
            scale = float(equity) if equity > 0 else float(long - short)
            var, es, marginal, marginal_es = _gradients(returns, held / scale, model)
            var, es = var * scale, es * scale
            for n, m, m_es in zip(names, marginal.tolist(), marginal_es.tolist(), strict=True):
                per_unit[n] = UnitRisk(m, -m, m_es, -m_es)
        else:
            for i, n in enumerate(names):
                up = _gradients(returns[:, i : i + 1], np.ones(1), model)
                down = _gradients(returns[:, i : i + 1], -np.ones(1), model)
                per_unit[n] = UnitRisk(up[0], down[0], up[1], down[1])
    return BookRisk(
        equity=equity, var=var, es=es, gross=long - short, net=long + short, largest=largest,
        largest_pct=largest_pct, quantities=quantities, per_unit=per_unit, unmodelled=unmodelled,
    )


def portfolio_figures(book: RiskBook, model: RiskModel | None) -> PortfolioFigures:
    """The firm's and each account's figures for the pre-trade checks (`trading.risk.rules.RiskGate`)."""
    accounts = sorted({p.owner for p in book.accounts} | set(book.equity))
    firm_equity = sum(book.equity.values(), ZERO)
    return PortfolioFigures(
        firm=book_risk(book.accounts, book.marks, firm_equity, model),
        accounts={
            a: book_risk([p for p in book.accounts if p.owner == a], book.marks, book.equity.get(a, ZERO), model)
            for a in accounts
        },
        method=model.method if model is not None else "",
        confidence=model.confidence if model is not None else 0.0,
        horizon=model.horizon if model is not None else 0,
        ts=book.ts,
    )
