"""Optimistic stepping: a strategy host runs ahead of its paper broker on predicted answers, and the broker's
real answers confirm the predictions afterwards.

A host must know every fill of its orders before it steps the next bar (see `strategy_host`), so without
prediction every order costs one wait for the order manager and the broker: one Ray round trip per order,
which caps an order-heavy replay at the order manager's call rate. A paper broker's answers are predictable:
the owner's book is matched by the same `SimulatedVenue` code against the same bars. `OptimisticHost` keeps a
private `PaperBroker` (the shadow) holding only its owner's book, steps as far as its bars go on the shadow's
answers, and hands all those steps to the order manager at once, each with the answer it stepped on (a
`Prediction`). The order manager checks them in order and stops after the first step with a denial
(`route_steps`); the broker applies them in order and stops an owner's turn at the first answer that differs
from its prediction (`step_in_turn`): the steps after either were decided by a host that assumed something
that did not happen, so they never reach the venue (the order manager closes their orders as `NOT_SENT`).
`confirm` then compares what the host saw with the real answers. Nothing the host did is final before that:
its steps are the only thing it sends.

On any difference the host's state is not the broker's truth, so the caller rebuilds the host from the order
manager's record (the restart path) and this host waits for real answers for a while (`FIRST_COOLDOWN` steps,
doubling while predictions keep failing). What can differ: a risk denial; a fill the shared account's cash
refuses (the shadow has its own unlimited cash: other strategies spend the real one); events the order
manager booked by reconciliation after a restart. Compared is what the host consumes: order events, and of a
fill report only the `Fill` (its account-wide position and P&L fields describe the account).

The shadow starts only when the host has no live orders (a book with no orders is described by the bars, the
position and the count of fills so far) and has stepped past its recorded bars (a rebuilt host's past, booked
from the record: the shadow never sees those fills). It is dropped whenever the host waits for an answer the
shadow could not predict exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from trading.data.bars import Bar
from trading.live.strategy_host import HostStep, StrategyHost
from trading.messages import Message, OrderFilled, OrderSubmitted, SubmitOrder
from trading.model.pickling import PositionalPickle
from trading.sim.models import SimConfig

if TYPE_CHECKING:  # the paper broker imports this package's order-event rules
    from trading.brokers.paper import PaperBroker

DEFAULT_MAX_STEPS = 256  # steps predicted ahead of one confirmation: bounds the work a divergence throws away
FIRST_COOLDOWN = 16  # steps with real answers after a divergence; doubles while predictions keep failing
MAX_COOLDOWN = 4096

StepAnswer = tuple[list[Message], list[Message], int]  # (answers to the commands, broker events, horizon)


@dataclass(frozen=True, slots=True)
class ShadowSpec:
    """How the host's real paper broker matches: its simulation settings and bar interval."""

    sim: SimConfig
    bar_interval_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Prediction(PositionalPickle):
    """The broker answer a host stepped on, as the host consumed it (`as_seen_by_host`) with its horizon."""

    events: list[object]
    horizon_ts: int

    def holds(self, events: Sequence[Message], horizon_ts: int) -> bool:
        return horizon_ts == self.horizon_ts and as_seen_by_host(events) == self.events


@dataclass(frozen=True, slots=True)
class PlannedStep:
    step: HostStep
    # What the host stepped on: the order manager's answers and the broker's (the broker checks the latter).
    # None: the host waits for this step's real answer before it goes on.
    answers: list[Message] | None = None
    prediction: Prediction | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    steps: list[PlannedStep]
    bars_stepped: int

    @property
    def host_steps(self) -> list[HostStep]:
        return [planned.step for planned in self.steps]

    @property
    def predictions(self) -> list[Prediction | None]:
        return [planned.prediction for planned in self.steps]


class Outcome(StrEnum):
    CONFIRMED = "confirmed"  # every prediction held: step on
    WAITING = "waiting"  # the broker had no newer bar for the last step: wait for market data
    DIVERGED = "diverged"  # a real answer differs: rebuild the host from the order manager's record


def predicted_answers(step: HostStep) -> list[Message]:
    """What the order manager answers when it denies nothing (`route_commands`)."""
    return [
        OrderSubmitted(c.order.client_order_id, c.order.strategy_id, c.order.instrument_id, c.order.ts_init)
        for c in step.commands
        if isinstance(c, SubmitOrder)
    ]


def as_seen_by_host(events: Sequence[Message]) -> list[object]:
    return [event.fill if isinstance(event, OrderFilled) else event for event in events]


class OptimisticHost:
    """Drives one `StrategyHost` with predicted answers; `shadow=None` drives it the plain way (one real
    answer per step)."""

    def __init__(self, host: StrategyHost, shadow: ShadowSpec | None, *, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        self.host = host
        self.spec = shadow
        self.max_steps = max_steps
        self.broker: PaperBroker | None = None  # the shadow, while it runs
        self.cooldown = 0  # steps left that wait for real answers
        self.next_cooldown = FIRST_COOLDOWN
        self.predicted = 0  # steps stepped on a prediction that was later confirmed
        self.divergences = 0
        self.last_divergence = ""

    def on_bars(self, bars: Sequence[Bar]) -> None:
        self.host.on_bars(bars)
        if self.broker is not None and bars:
            self.broker.on_bars(self.host.instrument_id, bars)

    def rebuilt(self, host: StrategyHost) -> None:
        """The caller rebuilt the host after a divergence: drive the new one (without a shadow until flat)."""
        self.host = host
        self.broker = None

    # ------------------------------------------------------------------------------------------ planning
    def plan(self) -> Plan:
        """Step the host as far as its bars and predictions go. Every step but the last is predicted and
        already applied; the last may need its real answer first (`prediction is None`)."""
        host = self.host
        steps: list[PlannedStep] = []
        stepped = 0
        while len(steps) < self.max_steps:
            self._start_shadow()
            step = host.advance()
            stepped += step.bars_stepped
            if step.needs_sync_after_ts is None:
                break
            if self.broker is None or step.next_ts is None:
                steps.append(PlannedStep(step))  # the shadow does not have the bar the broker will match
                break
            answers = predicted_answers(step)
            result = self.broker.step(host.strategy_id, host.instrument_id, step.commands, step.needs_sync_after_ts)
            host.apply_events(answers)
            host.apply_events(result.events, result.horizon_ts)
            steps.append(PlannedStep(step, answers, Prediction(as_seen_by_host(result.events), result.horizon_ts)))
        return Plan(steps, stepped)

    def _start_shadow(self) -> None:
        # Not while a rebuilt host steps its recorded past: the shadow would not see the recorded fills.
        if self.broker is not None or self.spec is None or self.host.has_live_orders or self.host.replaying:
            return
        if self.cooldown > 0:
            self.cooldown -= 1
            return
        # At call time: the paper broker imports this package (its order-event rules).
        from trading.brokers.paper import PaperBroker  # noqa: PLC0415

        host = self.host
        self.broker = PaperBroker.shadow(
            host.strategy_id,
            host.instrument_obj,
            self.spec.sim,
            self.spec.bar_interval_ns,
            trades_so_far=len(host.fills),
            position=host.position_quantity(host.instrument_id),
            bars=host.bars_from_last_stepped(),
        )

    # -------------------------------------------------------------------------------------- confirmation
    def confirm(self, plan: Plan, answers: Sequence[StepAnswer]) -> Outcome:
        """Check the real answers of `plan`'s steps (the order manager may answer fewer: it stops after a
        denial) and apply the last step's if it waited for it."""
        for planned, answer in zip(plan.steps, answers, strict=False):
            if planned.answers is None or planned.prediction is None:
                return self._apply_real(planned, answer)
            difference = _difference(planned.answers, planned.prediction, answer)
            if difference:
                return self._diverged(f"step after {planned.step.needs_sync_after_ts}: {difference}")
            self.predicted += 1
        if len(answers) < len(plan.steps):
            return self._diverged(f"the order manager answered {len(answers)} of {len(plan.steps)} steps")
        if plan.steps and plan.steps[-1].prediction is not None:
            self.next_cooldown = FIRST_COOLDOWN  # a whole plan held
        return Outcome.CONFIRMED

    def _apply_real(self, planned: PlannedStep, answer: StepAnswer) -> Outcome:
        host = self.host
        step = planned.step
        to_strategy, events, horizon = answer
        before = host.horizon_ts
        host.apply_events(to_strategy)
        host.apply_events(events, horizon)
        if self.broker is not None:
            # The shadow follows if it answers the same; if not (the broker matched a bar the host has not
            # seen yet, or the account's cash refused a fill), it stops and starts again when the host is flat.
            done_ts = step.needs_sync_after_ts or 0
            result = self.broker.step(host.strategy_id, host.instrument_id, step.commands, done_ts)
            shadowed = Prediction(as_seen_by_host(result.events), result.horizon_ts)
            if _difference(predicted_answers(step), shadowed, answer):
                self.broker = None
        if not step.commands and host.horizon_ts <= before:
            return Outcome.WAITING
        return Outcome.CONFIRMED

    def _diverged(self, why: str) -> Outcome:
        self.divergences += 1
        self.last_divergence = why
        self.broker = None
        self.cooldown = self.next_cooldown
        self.next_cooldown = min(self.next_cooldown * 2, MAX_COOLDOWN)
        return Outcome.DIVERGED

    def status(self) -> dict[str, int | bool | str]:
        return {
            "predicted_steps": self.predicted,
            "divergences": self.divergences,
            "last_divergence": self.last_divergence,
            "predicting": self.broker is not None,
        }


def _difference(answers: list[Message], prediction: Prediction, real: StepAnswer) -> str:
    """What differs between a predicted and a real answer ("" if nothing)."""
    if answers != real[0]:
        return f"order manager answered {real[0]}, predicted {answers}"
    if not prediction.holds(real[1], real[2]):
        return (
            f"broker reported {real[1]} through {real[2]}, predicted {prediction.events} through "
            f"{prediction.horizon_ts}"
        )
    return ""
