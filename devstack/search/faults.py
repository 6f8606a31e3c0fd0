"""Fault injection for the Elasticsearch-compatible server: latency, error statuses, dropped connections, partial
search results. Deterministic for a seed: every rule owns a ``random.Random(seed + rule number)``, rule numbers
counting every rule added since the controller was created or last cleared.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Rule:
    kind: str  # "latency" | "error" | "drop" | "partial"
    number: int
    rng: random.Random
    pattern: re.Pattern[str] | None = None
    status: int = 503
    count: int | None = None
    probability: float | None = None
    methods: frozenset[str] | None = None
    fixed_ms: float = 0.0
    jitter_ms: float = 0.0
    seconds: float = 0.0
    fired: int = 0
    seen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def applies(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.pattern is None or self.pattern.search(path) is not None

    def fire(self) -> bool:
        """Consume one matching request: does the fault happen this time?"""
        if self.count is not None and self.fired >= self.count:
            return False
        self.seen += 1
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "number": self.number, "fired": self.fired, "seen": self.seen}
        if self.kind == "latency":
            out.update(fixed_ms=self.fixed_ms, jitter_ms=self.jitter_ms)
        else:
            out.update(count=self.count, probability=self.probability)
        if self.kind == "stall":
            out["seconds"] = self.seconds
        if self.kind in ("error", "drop", "stall"):
            out.update(
                path_pattern=self.pattern.pattern if self.pattern else ".*",
                methods=sorted(self.methods) if self.methods else None,
            )
        if self.kind == "error":
            out["status"] = self.status
        return out


@dataclass
class Decision:
    """What to do with one request: sleep ``delay_s``, then answer an error ``status``, drop, or serve it."""

    delay_s: float = 0.0
    status: int | None = None
    drop: bool = False


class FaultController:
    """Faults applied to every non-control request of one server."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._next = 0
        self._counters = dict.fromkeys(("requests", "errors", "drops", "partial", "stalls", "latency_applied"), 0)

    def _rule(self, kind: str, **kwargs: Any) -> _Rule:
        with self._lock:
            rule = _Rule(kind, self._next, random.Random(self.seed + self._next), **kwargs)
            self._next += 1
            self._rules.append(rule)
            return rule

    @staticmethod
    def _check(count: int | None, probability: float | None) -> None:
        if count is not None and count < 0:
            raise ValueError("count must be >= 0")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

    def add_latency(self, fixed_ms: float, jitter_ms: float = 0) -> None:
        """Delay every request by ``fixed_ms`` plus a uniform ``[0, jitter_ms]``."""
        if fixed_ms < 0 or jitter_ms < 0:
            raise ValueError("latency must be >= 0")
        self._rule("latency", fixed_ms=float(fixed_ms), jitter_ms=float(jitter_ms))

    def add_error(
        self,
        path_pattern: str = ".*",
        status: int = 503,
        count: int | None = None,
        probability: float | None = None,
        methods: list[str] | None = None,
    ) -> None:
        """Answer matching requests (regex searched in the path) with an Elasticsearch-looking ``status`` error."""
        self._check(count, probability)
        if not 400 <= int(status) <= 599:
            raise ValueError("status must be an HTTP error status")
        self._rule(
            "error",
            pattern=re.compile(path_pattern),
            status=int(status),
            count=count,
            probability=probability,
            methods=frozenset(m.upper() for m in methods) if methods else None,
        )

    def drop_connections(
        self,
        path_pattern: str = ".*",
        count: int | None = None,
        probability: float | None = None,
        methods: list[str] | None = None,
    ) -> None:
        """Close the connection of matching requests without sending any response."""
        self._check(count, probability)
        self._rule(
            "drop",
            pattern=re.compile(path_pattern),
            count=count,
            probability=probability,
            methods=frozenset(m.upper() for m in methods) if methods else None,
        )

    def stall(
        self,
        seconds: float,
        path_pattern: str = ".*",
        count: int | None = None,
        probability: float | None = None,
        methods: list[str] | None = None,
    ) -> None:
        """Hold matching requests for ``seconds`` before answering: longer than a client's timeout, it
        is a timeout as the client sees it (the server answers late, to a closed connection)."""
        self._check(count, probability)
        if seconds <= 0:
            raise ValueError("seconds must be > 0")
        self._rule(
            "stall",
            seconds=float(seconds),
            pattern=re.compile(path_pattern),
            count=count,
            probability=probability,
            methods=frozenset(m.upper() for m in methods) if methods else None,
        )

    def partial_results(self, count: int | None = None, probability: float | None = None) -> None:
        """Make the next searches report a failed shard (or fail, with ``allow_partial_search_results=false``)."""
        self._check(count, probability)
        self._rule("partial", count=count, probability=probability)

    def clear(self) -> None:
        """Remove every rule and zero the counters (rule numbering, hence randomness, starts over)."""
        with self._lock:
            self._rules.clear()
            self._next = 0
            for key in self._counters:
                self._counters[key] = 0

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "counters": dict(self._counters), "rules": [r.describe() for r in self._rules]}

    # --- used by the server -----------------------------------------------------------------------------------

    def decide(self, method: str, path: str) -> Decision:
        decision = Decision()
        with self._lock:
            self._counters["requests"] += 1
            delay_ms = 0.0
            latency = False
            for rule in self._rules:
                if rule.kind == "latency":
                    latency = True
                    delay_ms += rule.fixed_ms + (rule.rng.uniform(0, rule.jitter_ms) if rule.jitter_ms else 0.0)
            if latency:
                self._counters["latency_applied"] += 1
            for rule in self._rules:
                if rule.kind == "stall" and rule.applies(method, path) and rule.fire():
                    self._counters["stalls"] += 1
                    delay_ms += rule.seconds * 1000.0
                    break
            if delay_ms:
                decision.delay_s = delay_ms / 1000.0
            for rule in self._rules:
                if rule.kind in ("error", "drop") and rule.applies(method, path) and rule.fire():
                    if rule.kind == "drop":
                        decision.drop = True
                        self._counters["drops"] += 1
                    else:
                        decision.status = rule.status
                        self._counters["errors"] += 1
                    break
        return decision

    def take_partial(self) -> bool:
        """Called once per search: should this one report a failed shard?"""
        with self._lock:
            for rule in self._rules:
                if rule.kind == "partial" and rule.fire():
                    self._counters["partial"] += 1
                    return True
        return False

    def configure(self, action: str, body: dict[str, Any]) -> None:
        """The HTTP control API: ``POST /_fault/<action>`` with the keyword arguments of the Python method."""
        if action == "latency":
            self.add_latency(float(body.get("fixed_ms", 0)), float(body.get("jitter_ms", 0)))
        elif action in ("errors", "error"):
            self.add_error(
                body.get("path_pattern", ".*"),
                int(body.get("status", 503)),
                body.get("count"),
                body.get("probability"),
                body.get("methods"),
            )
        elif action in ("drop", "drops"):
            self.drop_connections(
                body.get("path_pattern", ".*"), body.get("count"), body.get("probability"), body.get("methods")
            )
        elif action == "partial":
            self.partial_results(body.get("count"), body.get("probability"))
        elif action == "stall":
            self.stall(
                float(body["seconds"]),
                body.get("path_pattern", ".*"),
                body.get("count"),
                body.get("probability"),
                body.get("methods"),
            )
        else:
            raise KeyError(action)
