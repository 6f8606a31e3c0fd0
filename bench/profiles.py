"""How big each part of the benchmark is, for the full run and for ``--quick``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

FIRST_DAY = datetime(2024, 10, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Latency:
    """Injected per-request latency: ``fixed_ms`` plus a uniform draw in ``[0, jitter_ms]``."""

    fixed_ms: float
    jitter_ms: float

    @property
    def mean_ms(self) -> float:
        return self.fixed_ms + self.jitter_ms / 2


@dataclass(frozen=True)
class Profile:
    name: str
    scaling_sizes: tuple[int, int, int]
    """Messages per window for the three pipeline runs; the largest is "the pipeline" (N)."""
    baseline_messages: int
    """Messages the reference design processes (one at a time) for its rate."""
    extraction_ids: int
    airflow_batches: int
    airflow_batch_size: int
    ceiling_puts: int
    ceiling_mget_chunks: int
    ceiling_mysql_rows: int
    layouts_messages: int
    """Messages of the window both archive layouts export (the ``layouts`` phase)."""
    layouts_batch_size: int = 20_000
    """The layouts' batch size, both layouts alike: a size the batch layout is meant to run at (its
    objects are a batch's messages; docs/archive.md advises 10,000-50,000)."""
    scaleout_workers: tuple[int, ...] = (1, 2, 4)
    big_buffer_pool_bytes: int = 2 * 2**30
    ledger_sizes: tuple[tuple[int, int], ...] = ((5, 2_000_000), (10, 2_000_000))
    """Steps of (days, rows per day) of completed history added to the big ledger before each
    measurement; retention then removes them all (they are long expired) and the statements are
    measured once more. The generator rebuilds message_tracking's secondary indexes after each step
    (a sorted build), so tens of millions of rows take minutes, not hours."""
    es_latency: Latency = Latency(fixed_ms=2.0, jitter_ms=2.0)
    s3_latency: Latency = Latency(fixed_ms=15.0, jitter_ms=10.0)
    body_bytes: int = 2048
    max_related: int = 5

    # One UTC day per data set, so every run exports its own window; the reference design reads the
    # smallest scaling window (its extraction caps at 10,000).
    scaling_days: ClassVar[tuple[datetime, ...]] = tuple(FIRST_DAY + timedelta(days=n) for n in (0, 2, 3))
    baseline_day: ClassVar[datetime] = FIRST_DAY
    airflow_day: ClassVar[datetime] = FIRST_DAY + timedelta(days=1)
    extraction_day: ClassVar[datetime] = FIRST_DAY + timedelta(days=4)
    layouts_day: ClassVar[datetime] = FIRST_DAY + timedelta(days=5)

    @property
    def airflow_messages(self) -> int:
        return self.airflow_batches * self.airflow_batch_size

    def describe(self) -> dict[str, Any]:
        days = {
            "baseline": self.baseline_day.date().isoformat(),
            "scaling": [d.date().isoformat() for d in self.scaling_days],
        }
        days |= {"airflow": self.airflow_day.date().isoformat(), "extraction": self.extraction_day.date().isoformat()}
        days |= {"layouts": self.layouts_day.date().isoformat()}
        return {**asdict(self), "days": days}


# Sized for a 2-CPU machine shared with other work (~20 minutes). The targets speak of a 1,000,000-id
# extraction and a 10M-row ledger: on a machine of its own, raise them (--extraction-ids, ledger_sizes).
FULL = Profile(
    name="full",
    scaling_sizes=(1_000, 5_000, 12_000),
    baseline_messages=300,
    extraction_ids=250_000,
    airflow_batches=10,
    airflow_batch_size=300,
    ceiling_puts=2_000,
    ceiling_mget_chunks=10,
    ceiling_mysql_rows=20_000,
    layouts_messages=30_000,
)

QUICK = Profile(
    name="quick",
    scaling_sizes=(300, 1_000, 3_000),
    baseline_messages=150,
    extraction_ids=50_000,
    airflow_batches=10,
    airflow_batch_size=50,
    ceiling_puts=1_000,
    ceiling_mget_chunks=4,
    ceiling_mysql_rows=10_000,
    layouts_messages=10_000,
    ledger_sizes=((1, 50_000), (3, 50_000)),
)
