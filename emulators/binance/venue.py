"""The emulated Binance account: a spot instrument quoted in the account's currency over recorded bars.

Binance keeps balances to eight decimal places. With prices on a 0.00000001 tick, whole-unit lots (what
Binance gives altcoin/BTC pairs priced around 0.001 BTC) and commissions rounded to eight places, every
booked amount has eight places at most, so the balances the server reports are the core account's, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from emulators.exchange import EmulatedExchange
from trading.data.loaders import load_bars
from trading.model.identifiers import InstrumentId
from trading.model.instruments import AssetClass, Instrument
from trading.sim.models import SimConfig

VENUE = "BINANCE"  # the ccxt adapter's default venue name for exchange id `binance`
TAKER_FEE = Decimal("0.001")  # Binance's standard spot rate, 0.1%
EIGHT_PLACES = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class BinanceFee:
    """A share of the notional, rounded to the quote asset's eight places as Binance books it."""

    rate: Decimal = TAKER_FEE

    def commission(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        return (self.rate * quantity * price * instrument.multiplier).quantize(EIGHT_PLACES, ROUND_HALF_UP)


def spot_instrument(
    symbol: str, *, tick_size: str = "0.00000001", lot_size: str = "1", venue: str = VENUE
) -> Instrument:
    """`BASE/QUOTE` traded in QUOTE; spot cannot be sold short."""
    quote = symbol.partition("/")[2]
    if not quote:
        raise ValueError(f"{symbol!r} is not BASE/QUOTE")
    return Instrument(
        InstrumentId(symbol, venue),
        AssetClass.CRYPTO_SPOT,
        quote,
        Decimal(tick_size),
        lot_size=Decimal(lot_size),
        min_quantity=Decimal(lot_size),
        shortable=False,
    )


def spot_exchange(
    data: str | Path,
    symbol: str,
    *,
    cash: Decimal = Decimal(1),
    fee_rate: Decimal = TAKER_FEE,
    tick_size: str = "0.00000001",
    lot_size: str = "1",
) -> EmulatedExchange:
    """One spot account holding `cash` of the quote asset, trading `symbol` on the bars in `data`."""
    instrument = spot_instrument(symbol, tick_size=tick_size, lot_size=lot_size)
    return EmulatedExchange(
        {symbol: (instrument, load_bars(data))},
        cash=cash,
        currency=instrument.currency,
        sim=SimConfig(fees=BinanceFee(fee_rate), venue=VENUE),
        account_id="binance-spot",
    )
