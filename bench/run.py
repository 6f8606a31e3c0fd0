"""The benchmark run: start the stack, load the data, measure each part in a worker, report.

Order: reference design (baseline) → pipeline at three sizes → stage ceilings → Airflow
``dag.test()`` → extraction of the large window (last: it leaves a million pending ledger rows).
A phase that fails is reported as such; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import dashboard_queries
from bench.data import seed_all
from bench.environment import REPO
from bench.profiles import FULL, QUICK, Profile
from bench.report import RESULTS, derive, render_text
from bench.stack import BUCKET, MYSQL, EsProcess, MySqlDatabase, S3Stack, connection_environment, write_config

if TYPE_CHECKING:
    from message_export.config import ExportConfig

PHASES = ("baseline", "pipeline", "ceilings", "airflow", "extraction", "dashboard")


class WorkerError(RuntimeError):
    pass


class Bench:
    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir
        self.started = time.perf_counter()
        self._workers = 0

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {text}", flush=True)

    def worker(self, phase: str, args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run one measurement in a fresh ``python -m bench.worker`` process; return its figures."""
        self._workers += 1
        stem = self.workdir / f"{self._workers:02d}-{phase}"
        load_before = os.getloadavg()
        result, log = stem.with_suffix(".json"), stem.with_suffix(".log")
        with log.open("wb") as output:
            code = subprocess.call(
                [sys.executable, "-m", "bench.worker", phase, json.dumps(args, default=str), str(result)],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if code != 0 or not result.exists():
            tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
            raise WorkerError(f"worker '{phase}' exited with {code}:\n{tail}")
        figures = json.loads(result.read_text(encoding="utf-8"))
        # Other work on the machine slows the CPU-bound local servers: keep the evidence with the figures.
        figures["load_average_1m"] = {"before": load_before[0], "after": os.getloadavg()[0]}
        return figures


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in under two minutes")
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases to run (default: all of {', '.join(PHASES)})"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json", help="where to write the JSON figures")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and the MySQL database")
    return parser.parse_args(argv)


def main(argv: list[str], workdir: Path) -> int:
    args = parse_args(argv)
    phases = [phase.strip() for phase in args.only.split(",") if phase.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        print(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}", file=sys.stderr)
        return 2
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the server process and the databases are cleaned up.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    profile = QUICK if args.quick else FULL
    bench = Bench(profile, workdir)
    bench.say(f"{profile.name} benchmark; work directory {workdir}")
    raw: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile.describe(),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "latency": {
            "elasticsearch": {**vars(profile.es_latency), "mean_ms": profile.es_latency.mean_ms},
            "s3": {**vars(profile.s3_latency), "mean_ms": profile.s3_latency.mean_ms},
            "mysql": None,
        },
        "errors": {},
    }
    migrate = None
    if "airflow" in phases:
        migrate = subprocess.Popen(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            cwd=REPO,
            stdout=(workdir / "airflow-db-migrate.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
    database = MySqlDatabase.create()
    s3 = es = None
    try:
        s3 = S3Stack(workdir / "moto-server.log")
        es = EsProcess(workdir / "es-server.log").start()
        os.environ.update(connection_environment(es.url, s3.url, database.name))
        os.environ["MESSAGE_EXPORT_CONFIG"] = str(write_config(workdir / "message_export.yaml"))
        bench.say(f"stack up: Elasticsearch-compatible {es.url}, S3 proxy {s3.url} -> moto, MySQL `{database.name}`")

        raw["seeding"] = seed_all(es.url, profile)
        bench.say(
            f"data loaded in {raw['seeding']['seconds']:.1f}s: "
            + ", ".join(f"{name} {info['messages']:,}" for name, info in raw["seeding"]["sets"].items())
        )
        es.set_latency(profile.es_latency)
        s3.set_latency(profile.s3_latency)
        raw["stack"] = {
            "es_server_rss_mb": es.rss_mb(),
            "database": database.name,
            "mysql": database.server_settings(),
        }

        config = _config_values()
        if "baseline" in phases:
            raw["baseline"] = _guard(raw, "baseline", lambda: _baseline(bench, es.url, s3.url, database, config))
        if "pipeline" in phases:
            raw["pipeline"] = _pipeline(bench, raw)
        if "ceilings" in phases:
            raw["ceilings"] = _guard(raw, "ceilings", lambda: _ceilings(bench, es.url, s3, database, config))
        if "airflow" in phases:
            raw["airflow"] = _guard(raw, "airflow", lambda: _airflow(bench, migrate))
        if "extraction" in phases:
            raw["extraction"] = _guard(raw, "extraction", lambda: _extraction(bench, es.url, s3.url, database, config))
        if "dashboard" in phases:
            raw["dashboard"] = _guard(raw, "dashboard", lambda: _dashboard(bench, database))
    finally:
        if es is not None:
            raw.setdefault("stack", {})["es_server_rss_mb_end"] = es.rss_mb()
            es.stop()
        if s3 is not None:
            s3.stop()
        if migrate is not None and migrate.poll() is None:
            migrate.terminate()
        if not args.keep:
            database.drop()

    raw["duration_seconds"] = time.perf_counter() - bench.started
    figures = derive(raw)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    print()
    print(render_text(figures))
    if "error" not in figures.get("dashboard", {"error": None}):
        print()
        print(dashboard_queries.render(figures["dashboard"]))
    print(f"\nfigures written to {args.output} ({raw['duration_seconds']:.0f}s in all)")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if raw["errors"] else 0


def _dashboard(bench: Bench, database: MySqlDatabase) -> dict[str, Any]:
    """The dashboard's answers against a generated year of ledger (its own database)."""
    return dashboard_queries.measure(bench.profile.name, MYSQL, database.sibling("dashboard"), say=bench.say)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _guard(raw: dict[str, Any], phase: str, work: Any) -> dict[str, Any]:
    try:
        return work()
    except Exception as error:  # a failed phase is reported; the rest of the run goes on
        text = f"{type(error).__name__}: {error}"
        raw["errors"][phase] = text
        print(f"!! {phase} failed: {text}", file=sys.stderr, flush=True)
        return {"error": text.splitlines()[0]}


def _config_values() -> ExportConfig:
    from message_export.config import load_config

    return load_config(os.environ["MESSAGE_EXPORT_CONFIG"])


def _baseline(bench: Bench, es_url: str, s3_url: str, database: MySqlDatabase, config: ExportConfig) -> dict[str, Any]:
    profile = bench.profile
    es_cfg = config.elasticsearch
    bench.say(f"baseline: reference design, {profile.baseline_messages:,} messages one at a time")
    result = bench.worker(
        "reference",
        {
            "setup": {
                "es_url": es_url,
                "s3_url": s3_url,
                "bucket": BUCKET,
                "mysql": database.params,
                "message_index": es_cfg.message_index,
                "related": es_cfg.related,
                "timestamp_field": es_cfg.timestamp_field,
                "related_id_field": es_cfg.related_id_field,
            },
            "day": profile.baseline_day.isoformat(),
            "messages": profile.baseline_messages,
        },
    )
    bench.say(
        f"  {result['messages']:,} messages in {result['process_seconds']:.1f}s "
        f"({result['messages'] / result['process_seconds']:.1f} msg/s), extraction {result['extract_seconds']:.1f}s"
    )
    return result


def _pipeline(bench: Bench, raw: dict[str, Any]) -> list[dict[str, Any]]:
    runs = []
    for size, day in zip(bench.profile.scaling_sizes, bench.profile.scaling_days, strict=True):
        bench.say(f"pipeline: window {day:%Y-%m-%d}, {size:,} messages")

        def one(day: datetime = day) -> dict[str, Any]:
            return bench.worker("pipeline", {"day": day.isoformat()})

        run = _guard(raw, f"pipeline {size}", one)
        run["size"] = size
        if "error" not in run:
            if run["failed"] or run["completed"] != size:
                raw["errors"][f"pipeline {size}"] = f"{run['completed']} completed, {run['failed']} failed of {size}"
            bench.say(
                f"  extract {run['extract_seconds']:.1f}s, process {run['process_seconds']:.1f}s "
                f"({run['completed'] / run['process_seconds']:.0f} msg/s), "
                f"peak RSS {run['peak_rss_mb']:.0f} MB"
            )
        runs.append(run)
    return runs


def _ceilings(bench: Bench, es_url: str, s3: S3Stack, database: MySqlDatabase, config: ExportConfig) -> dict[str, Any]:
    profile = bench.profile
    es_cfg = config.elasticsearch
    chunk = config.fetch_chunk_size
    concurrency = config.s3.max_concurrency
    day = profile.scaling_days[-1]
    try:
        body_bytes = s3.mean_object_size(f"{config.s3.prefix}/dt={day:%Y-%m-%d}/")
    except RuntimeError:
        body_bytes = profile.body_bytes * 2  # pipeline did not run: archive documents are about twice the body
    extra = {
        "ContentType": "application/json; charset=utf-8",
        "ServerSideEncryption": config.s3.server_side_encryption,
        "Metadata": {"job-id": "1", "batch": "0", "dag-run-id": "bench", "exported-at": "2024-10-02T00:00:00+00:00"},
    }
    bench.say(
        f"ceilings: {profile.ceiling_puts:,} PUTs x{concurrency}, {profile.ceiling_mget_chunks} _mget of {chunk:,}, "
        f"{profile.ceiling_mysql_rows:,} bulk ledger rows"
    )
    result = bench.worker(
        "ceilings",
        {
            "s3": {
                "s3_url": s3.url,
                "bucket": BUCKET,
                "puts": profile.ceiling_puts,
                "body_bytes": body_bytes,
                "concurrency": concurrency,
                "extra": extra,
            },
            "es": {
                "es_url": es_url,
                "message_index": es_cfg.message_index,
                "related": es_cfg.related,
                "related_id_field": es_cfg.related_id_field,
                "timestamp_field": es_cfg.timestamp_field,
                "day": day.isoformat(),
                "chunk_size": chunk,
                "chunks": profile.ceiling_mget_chunks,
            },
            "mysql": {"mysql": database.params, "rows": profile.ceiling_mysql_rows, "chunk_size": chunk},
        },
    )
    bench.say(
        f"  S3 {result['s3']['per_second']:.0f} PUT/s, ES _mget {result['mget']['per_second']:.0f} docs/s "
        f"(with related {result['chunk_read']['per_second']:.0f}/s), MySQL {result['mysql']['per_second']:.0f} rows/s"
    )
    return result


def _airflow(bench: Bench, migrate: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    profile = bench.profile
    if migrate is not None and migrate.wait() != 0:
        log = (bench.workdir / "airflow-db-migrate.log").read_text(encoding="utf-8", errors="replace")
        raise WorkerError(f"airflow db migrate failed:\n{log[-3000:]}")
    config = write_config(
        bench.workdir / "message_export_airflow.yaml",
        batch_size=profile.airflow_batch_size,
        max_batches=max(profile.airflow_batches, 200),
    )
    bench.say(
        f"Airflow: dag.test() of window {profile.airflow_day:%Y-%m-%d}, "
        f"{profile.airflow_messages:,} messages in {profile.airflow_batches} mapped batches"
    )
    result = bench.worker(
        "airflow", {"day": profile.airflow_day.isoformat()}, env={"MESSAGE_EXPORT_CONFIG": str(config)}
    )
    result["messages"] = profile.airflow_messages
    if result["state"] != "success":
        raise WorkerError(f"dag.test() ended {result['state']}: {', '.join(result['task_states'])}")
    bench.say(
        f"  wall {result['wall_seconds']:.1f}s, tasks' own time {result['own_seconds']:.1f}s, "
        f"{result['task_instances']} task instances"
    )
    return result


def _extraction(
    bench: Bench, es_url: str, s3_url: str, database: MySqlDatabase, config: ExportConfig
) -> dict[str, Any]:
    profile = bench.profile
    es_cfg = config.elasticsearch
    page_size = es_cfg.page_size
    bench.say(f"extraction: {profile.extraction_ids:,} ids, bare PIT loop then pipeline.extract")
    bare = bench.worker(
        "pit_loop",
        {
            "es_url": es_url,
            "index": es_cfg.message_index,
            "timestamp_field": es_cfg.timestamp_field,
            "day": profile.extraction_day.isoformat(),
            "page_size": page_size,
        },
    )
    bench.say(f"  bare loop {bare['seconds']:.1f}s, peak RSS {bare['peak_rss_mb']:.0f} MB")
    # An empty ledger of its own: the figure is "a window streamed into MySQL", not "into a ledger
    # that already holds the other phases' rows".
    ledger = connection_environment(es_url, s3_url, database.sibling("extraction"))
    pipe = bench.worker(
        "extract",
        {"day": profile.extraction_day.isoformat()},
        env={"AIRFLOW_CONN_MYSQL_DEFAULT": ledger["AIRFLOW_CONN_MYSQL_DEFAULT"]},
    )
    bench.say(f"  pipeline.extract {pipe['seconds']:.1f}s, peak RSS {pipe['peak_rss_mb']:.0f} MB")
    if pipe["ids"] != bare["ids"]:
        raise WorkerError(f"pipeline.extract tracked {pipe['ids']:,} ids, the bare loop read {bare['ids']:,}")
    return {"pipeline": pipe, "pit_loop": bare, "page_size": page_size}
