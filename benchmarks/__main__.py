"""`make bench`: every benchmark in one run, peers measured side by side on the same machine."""

from __future__ import annotations

import platform

from benchmarks import backtest_vs_backtrader, gateway, live_path, ml_training, portfolio_risk, sweep_vs_vectorbt


def main() -> None:
    print(
        f"Benchmarks on {platform.node()} ({platform.processor() or platform.machine()}), "
        f"python {platform.python_version()}"
    )
    backtest_vs_backtrader.main()
    sweep_vs_vectorbt.main()
    ml_training.main()
    portfolio_risk.main()
    gateway.main()
    live_path.main()


if __name__ == "__main__":
    main()
