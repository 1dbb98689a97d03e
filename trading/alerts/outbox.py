"""The outbox: every alert queued on a channel is written down before it is sent, and marked done (or dead)
after, so a restarted alert actor sends what it had not (at-least-once). One JSON line per record; rewritten
to what is still open when opened. Without a path it keeps the records in memory only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading.alerts.model import Alert


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An alert a channel gave up on, with why; `redrive` sends it again."""

    channel: str
    alert: Alert
    reason: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "alert": self.alert.to_dict(), "reason": self.reason,
                "attempts": self.attempts}


class AlertOutbox:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.pending: dict[tuple[str, str], Alert] = {}  # (channel, alert id) -> alert, in queue order
        self.dead: dict[tuple[str, str], DeadLetter] = {}
        if self.path is not None and self.path.exists():
            self._load(self.path)
            self._rewrite(self.path)

    def queued(self, channel: str, alert: Alert) -> None:
        self.pending[(channel, alert.id)] = alert
        self._append({"op": "queued", "channel": channel, "alert": alert.to_dict()})

    def done(self, channel: str, alert: Alert) -> None:
        self.pending.pop((channel, alert.id), None)
        self.dead.pop((channel, alert.id), None)
        self._append({"op": "done", "channel": channel, "id": alert.id})

    def dead_letter(self, letter: DeadLetter) -> None:
        key = (letter.channel, letter.alert.id)
        self.pending.pop(key, None)
        self.dead[key] = letter
        self._append({"op": "dead", **letter.to_dict()})

    def _append(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.path.open("a") as file:
            file.write(json.dumps(record, separators=(",", ":")) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def _load(self, path: Path) -> None:
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: the record before it still holds
            op, channel = record.get("op"), str(record.get("channel"))
            if op == "queued":
                alert = Alert.from_dict(record["alert"])
                self.pending[(channel, alert.id)] = alert
            elif op == "done":
                self.pending.pop((channel, record["id"]), None)
                self.dead.pop((channel, record["id"]), None)
            elif op == "dead":
                alert = Alert.from_dict(record["alert"])
                self.pending.pop((channel, alert.id), None)
                self.dead[(channel, alert.id)] = DeadLetter(channel, alert, str(record["reason"]),
                                                            int(record["attempts"]))

    def _rewrite(self, path: Path) -> None:
        temporary = path.with_suffix(path.suffix + ".tmp")
        with temporary.open("w") as file:
            for (channel, _), alert in self.pending.items():
                file.write(json.dumps({"op": "queued", "channel": channel, "alert": alert.to_dict()}) + "\n")
            for letter in self.dead.values():
                file.write(json.dumps({"op": "dead", **letter.to_dict()}) + "\n")
        temporary.replace(path)
