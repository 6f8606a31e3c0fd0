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
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import collected_heap, dashboard_queries
from bench.data import seed_all
from bench.environment import REPO
from bench.measure import CpuMeter, mysqld_pid
from bench.profiles import FULL, QUICK, Profile
from bench.report import RESULTS, cpu_split, derive, ledger_cost_ratio, render_text
from bench.s3_candidates import CANDIDATES
from bench.stack import (
    BUCKET,
    MYSQL,
    EsProcess,
    MySqlDatabase,
    S3Stack,
    ServerProcess,
    connection_environment,
    write_config,
)

if TYPE_CHECKING:
    from message_export.config import ExportConfig

PHASES = ("baseline", "pipeline", "ceilings", "scaleout", "airflow", "ledger", "extraction", "dashboard")


class WorkerError(RuntimeError):
    pass


class Bench:
    def __init__(self, profile: Profile, workdir: Path) -> None:
        self.profile = profile
        self.workdir = workdir
        self.started = time.perf_counter()
        self._workers = 0
        self.extraction_designs: tuple[str, ...] = EXTRACTION_DESIGNS

    def config_without_rate_limit(self) -> Path:
        """The packaged config with the search rate limit off (written once per run, read by workers)."""
        path = self.workdir / "message_export_no_rate_limit.yaml"
        if not path.exists():
            write_config(path, elasticsearch={"max_requests_per_second": None})
        return path

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {text}", flush=True)

    def worker(self, phase: str, args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run one measurement in a fresh ``python -m bench.worker`` process; return its figures."""
        load_before = os.getloadavg()
        figures = self.collect(self.spawn(phase, args, env))
        # Other work on the machine slows the CPU-bound local servers: keep the evidence with the figures.
        figures["load_average_1m"] = {"before": load_before[0], "after": os.getloadavg()[0]}
        return figures

    def spawn(self, phase: str, args: dict[str, Any], env: dict[str, str] | None = None) -> SpawnedWorker:
        """Start ``python -m bench.worker`` for ``phase``; :meth:`collect` waits for its figures."""
        self._workers += 1
        stem = self.workdir / f"{self._workers:02d}-{phase}"
        result, log = stem.with_suffix(".json"), stem.with_suffix(".log")
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", phase, json.dumps(args, default=str), str(result)],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return SpawnedWorker(phase, process, result, log)

    def collect(self, worker: SpawnedWorker) -> dict[str, Any]:
        code = worker.process.wait()
        if code != 0 or not worker.result.exists():
            tail = worker.log.read_text(encoding="utf-8", errors="replace")[-4000:]
            raise WorkerError(f"worker '{worker.phase}' exited with {code}:\n{tail}")
        return json.loads(worker.result.read_text(encoding="utf-8"))


@dataclass
class SpawnedWorker:
    phase: str
    process: subprocess.Popen[bytes]
    result: Path
    log: Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in under two minutes")
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases to run (default: all of {', '.join(PHASES)})"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json", help="where to write the JSON figures")
    parser.add_argument(
        "--s3-server",
        choices=sorted(CANDIDATES),
        help="use this S3 server instead of the fastest correct candidate (all are still measured)",
    )
    parser.add_argument("--extraction-ids", type=int, help="ids in the extraction window (default: the profile's)")
    parser.add_argument(
        "--extraction-designs",
        default=",".join(EXTRACTION_DESIGNS),
        help="comma-separated extraction designs to compare, 'product' first (see bench/extraction.py)",
    )
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
    if args.extraction_ids:
        profile = replace(profile, extraction_ids=args.extraction_ids)
    bench = Bench(profile, workdir)
    bench.extraction_designs = tuple(design.strip() for design in args.extraction_designs.split(",") if design.strip())
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
        raw["s3_candidates"] = _s3_candidates(bench)
        chosen = args.s3_server or raw["s3_candidates"]["chosen"]
        if chosen is None:
            raise WorkerError("no S3 server candidate passed the conformance check; see s3_candidates in the figures")
        raw["s3_candidates"]["used"] = chosen
        s3 = S3Stack(CANDIDATES[chosen](workdir / f"s3-{chosen}.log").start())
        es = EsProcess(workdir / "es-server.log").start()
        os.environ.update(connection_environment(es.url, s3.url, database.name, s3.server.credentials))
        os.environ["MESSAGE_EXPORT_CONFIG"] = str(write_config(workdir / "message_export.yaml"))
        bench.say(
            f"stack up: Elasticsearch-compatible {es.url}, S3 proxy {s3.url} -> {s3.server.name}, "
            f"MySQL `{database.name}`"
        )

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
        if "scaleout" in phases:
            raw["scaleout"] = _guard(raw, "scaleout", lambda: _scale_out(bench, es, s3))
        if "airflow" in phases:
            raw["airflow"] = _guard(raw, "airflow", lambda: _airflow(bench, migrate))
        if "ledger" in phases:
            raw["ledger"] = _guard(raw, "ledger", lambda: _ledger(bench, es.url, s3.url))
        if "extraction" in phases:
            raw["extraction"] = _guard(raw, "extraction", lambda: _extraction(bench, es, s3.url, database, config))
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


def _s3_candidates(bench: Bench) -> dict[str, Any]:
    """PUT/s of every S3 server candidate straight at it (no proxy), and whether it is correct."""
    profile = bench.profile
    results: dict[str, Any] = {}
    for name, kind in CANDIDATES.items():
        server: ServerProcess | None = None
        try:
            server = kind(bench.workdir / f"candidate-{name}.log").start()
            result = bench.worker(
                "s3_candidate",
                {
                    "s3_url": server.url,
                    "bucket": BUCKET,
                    "puts": profile.candidate_puts,
                    "body_bytes": profile.body_bytes * 2,
                    "concurrency": 32,
                    "credentials": list(server.credentials),
                    "server_pid": server.pid,
                    "extra": {
                        "ContentType": "application/json; charset=utf-8",
                        "ServerSideEncryption": "AES256",
                        "Metadata": {"job-id": "1", "batch": "0"},
                    },
                },
            )
            result["server_rss_mb"] = server.rss_mb()
            server_ms = result["server_cpu_ms_per_put"]
            # arithmetic: what the server alone could take on one free core
            result["server_capacity_per_core"] = 1000 / server_ms if server_ms else None
            results[name] = {"name": server.name, **result}
            verdict = "correct" if result["correct"] else "INCORRECT: " + "; ".join(result["problems"])
            bench.say(
                f"  S3 candidate {server.name}: {result['per_second']:,.0f} PUT/s x32 from one client process "
                f"(client {result['client_cpu_ms_per_put']:.2f} ms CPU/PUT, server {server_ms or 0:.2f} ms CPU/PUT "
                f"= {result['server_capacity_per_core'] or 0:,.0f} PUT/s per core), {verdict}"
            )
        except Exception as error:  # an unavailable candidate is reported, not fatal
            results[name] = {"name": kind.name, "error": f"{type(error).__name__}: {str(error)[:300]}"}
            bench.say(f"  S3 candidate {kind.name}: unavailable ({results[name]['error'][:120]})")
        finally:
            if server is not None:
                server.stop()
    # The client process is the limit of a one-process measurement; rank by what the server itself can take.
    correct = {name: r["server_capacity_per_core"] or 0 for name, r in results.items() if r.get("correct")}
    return {"candidates": results, "chosen": max(correct, key=correct.__getitem__) if correct else None}


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


def _scale_out(bench: Bench, es: EsProcess, s3: S3Stack) -> dict[str, Any]:
    """N worker processes (N mapped-task slots) process one window's batches at once, for each N."""
    profile = bench.profile
    day = profile.scaling_days[1]
    size = profile.scaling_sizes[1]
    parts = {"es_server": es.pid, "s3_server": s3.server.pid, "s3_proxy": os.getpid(), "mysqld": mysqld_pid()}
    # The window keeps the batches of its first export (reprocess only resets the messages'
    # status), so each worker takes every N-th batch, as free mapped-task slots would.
    env: dict[str, str] = {}
    upload_slots = _config_values().s3.max_concurrency  # uploads in flight per worker process
    # (workers, their environment, what differs from the product as it ships)
    plan: list[tuple[int, dict[str, str], str]] = [(workers, {}, "") for workers in profile.scaleout_workers]
    # Then one worker again with the search rate limit off: what the limit's window still costs one
    # worker (a chunk's four reads leave together; only more than the limit in a second waits).
    plan.append((1, {"MESSAGE_EXPORT_CONFIG": str(bench.config_without_rate_limit())}, "search rate limit off"))
    # And one worker with its steps' heap left to the garbage collector (bench/collected_heap.py):
    # what keeping the collector off the long-lived objects saves one worker.
    plan.append((1, {collected_heap.ENV: "1"}, "heap left to the garbage collector"))
    runs = []
    for number, (workers, worker_env, variant) in enumerate(plan):
        run_id = f"bench-scaleout-{number}-{workers}"
        extracted = bench.worker("extract_again", {"day": day.isoformat(), "run_id": run_id}, env=env)
        batch_ids = extracted["batch_ids"]
        shares = [batch_ids[i::workers] for i in range(workers)]
        differs = f"; {variant}" if variant else ""
        bench.say(f"scale-out: {workers} worker process(es), window {day:%Y-%m-%d} ({size:,} messages){differs}")
        meter = CpuMeter(parts)
        args = [{"batch_ids": share, "run_id": run_id} for share in shares if share]
        spawned = [bench.spawn("process_batches", arg, env=worker_env) for arg in args]
        results = [bench.collect(worker) for worker in spawned]
        cpu = meter.stop()
        wall, busy = cpu["wall"] or 0.0, cpu["machine_busy"] or 0.0
        cores = {name: None if cpu[name] is None else cpu[name] / wall for name in parts}
        workers_cpu = sum(r["process_cpu_seconds"] for r in results)
        completed = sum(r["completed"] for r in results)
        processing_wall = max(r["finished_at"] for r in results) - min(r["started_at"] for r in results)
        run = {
            "workers": workers,
            "variant": variant,
            "messages": completed,
            "failed": sum(r["failed"] for r in results),
            "expected": size,
            "wall_seconds": processing_wall,
            "per_second": completed / processing_wall,
            "extract_seconds": extracted["extract_seconds"],
            "cores_used": {
                "workers_total": workers_cpu / processing_wall,
                "per_worker_max": max(r["process_cpu_seconds"] / r["process_seconds"] for r in results),
                **cores,
                "machine_busy": busy / wall,
            },
            "cpu_ms_per_message": 1000 * workers_cpu / max(completed, 1),
            "cpu_count": os.cpu_count(),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in results),
        }
        latency_bound = len(args) * upload_slots * 1000 / profile.s3_latency.mean_ms
        run["saturated"] = _saturated(run["cores_used"], os.cpu_count() or 1, run["per_second"], latency_bound)
        runs.append(run)
        bench.say(
            f"  {completed:,} messages in {processing_wall:.1f}s = {run['per_second']:.0f} msg/s; "
            f"cores: workers {run['cores_used']['workers_total']:.2f}, machine {busy / wall:.2f} of {os.cpu_count()}; "
            f"saturated: {run['saturated']}"
        )
        if completed != size:
            raise WorkerError(f"scale-out with {workers} workers archived {completed:,} of {size:,} messages")
    return {"day": day.date().isoformat(), "size": size, "runs": runs}


def _saturated(cores: dict[str, float | None], cpu_count: int, per_second: float, latency_bound: float) -> str:
    """Name what ran out first: a single-threaded server, the machine's CPUs, S3's latency, a
    worker's GIL, or nothing identified.

    :param latency_bound: messages/s with every upload slot of every worker busy, one S3 latency each.
    """
    single = {"es_server": "Elasticsearch-compatible server (1 core)", "s3_server": "S3 server (1 core)"}
    single["s3_proxy"] = "S3 latency proxy (1 core)"
    for name, label in single.items():
        if (cores.get(name) or 0) >= 0.85:
            return label
    if (cores.get("machine_busy") or 0) >= 0.9 * cpu_count:
        return f"machine CPU ({cpu_count} cores busy, shared with other work)"
    if per_second >= 0.8 * latency_bound:
        return f"S3 latency (uploads in flight x S3 latency allow {latency_bound:,.0f} msg/s)"
    # A Python process whose threads pass the GIL back and forth shows 0.78-0.88 of a core when its
    # Python work is what limits it (every one-worker run of this bench, at any load).
    if (cores.get("per_worker_max") or 0) >= 0.75:
        return f"worker CPU (one core per worker process: the GIL; S3 latency would allow {latency_bound:,.0f} msg/s)"
    return f"none identified (below S3's latency bound of {latency_bound:,.0f} msg/s and every core)"


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


def _ledger(bench: Bench, es_url: str, s3_url: str) -> dict[str, Any]:
    """A run's ledger statements as the ledger grows, on a private mariadbd with MariaDB's default
    128 MB buffer pool (its redo log is larger, which only speeds up generating the rows)."""
    from bench.mariadb_instance import MariaDbInstance

    profile = bench.profile
    rows = sum(days * per_day for days, per_day in profile.ledger_sizes)
    bench.say(
        f"ledger size: a run's statements on a small ledger, with up to {rows:,} earlier rows, then after retention"
    )
    instance = MariaDbInstance(
        bench.workdir / "mariadb-ledger",
        128 * 2**20,
        ("--innodb-log-file-size=1073741824", "--innodb-flush-log-at-trx-commit=2"),
    ).start()
    try:
        instance.create_database("ledger")
        instance.create_database("ledger_small")
        conn = json.loads(connection_environment(es_url, s3_url, "ledger")["AIRFLOW_CONN_MYSQL_DEFAULT"])
        conn.update(host="127.0.0.1", port=instance.port, login="root", password="")
        result = bench.worker(
            "ledger_sizes",
            {
                "mysql": {**instance.params, "database": "ledger"},
                "small_mysql": {**instance.params, "database": "ledger_small"},
                "sizes": [list(size) for size in profile.ledger_sizes],
                "job_messages": 5_000,
                "batch_size": 500,
                "repeats": 5,
            },
            env={"AIRFLOW_CONN_MYSQL_DEFAULT": json.dumps(conn)},
        )
        result["mysql"] = instance.settings()
    finally:
        instance.stop()
    for point in result["points"]:
        made = point.get("generated")
        made_text = f" (generated {made['rows']:,} rows in {made['seconds']:.0f}s)" if made else ""
        bench.say(
            f"  {point['label']}, {point['ledger_rows']:,} rows{made_text}: "
            + ", ".join(f"{step} {seconds * 1000:.1f} ms" for step, seconds in point["seconds"].items())
            + f"; {ledger_cost_ratio(point):.2f}x the small ledger in the same rounds"
        )
    purge = result["purge"]
    bench.say(
        f"  retention removed {purge['rows']:,} rows of {purge['days']} days in {purge['chunks']} chunks "
        f"in {purge['wall_seconds']:.1f}s ({purge['rows_per_second'] or 0:,.0f} rows/s)"
    )
    return result


# Extraction designs measured side by side by default: the product's, and three comparators of
# bench/extraction.py (bench only): the design before batches tracked their own ids (the whole
# window tracked in one ordered pass within the extraction), that pass on MariaDB's bulk-load path
# for an empty table (what a ledger table per day would get), and the product with its heap left
# to the garbage collector; --extraction-designs picks others (DESIGNS there).
EXTRACTION_DESIGNS = ("product", "tracked-at-extraction", "empty-table", "collected-heap")


def _extraction(
    bench: Bench, es: EsProcess, s3_url: str, database: MySqlDatabase, config: ExportConfig
) -> dict[str, Any]:
    """Each design into an empty ledger of its own, each right after a bare loop of its own: on a
    shared machine the load drifts, so every ratio compares two runs made one after the other."""
    profile = bench.profile
    es_url = es.url
    page_size = config.elasticsearch.page_size
    pages = -(-profile.extraction_ids // page_size)
    limit = config.elasticsearch.max_requests_per_second
    # The search rate limit protects a production cluster and is the user's to set; at its default it
    # would pace the reads (pages / limit seconds at the least), so this phase measures the design with
    # it off (_extraction_pair), on the bare loop's terms, and reports the floor the default puts under it.
    bench.say(
        f"extraction: {profile.extraction_ids:,} ids in {pages:,} pages of {page_size:,}; designs "
        f"{', '.join(bench.extraction_designs)} side by side; search rate limit off (the default {limit:g}/s "
        f"alone would take >= {pages / limit:.1f}s)"
    )
    runs: dict[str, Any] = {}
    for design in bench.extraction_designs:
        ledger = connection_environment(es_url, s3_url, database.sibling(f"extraction_{design}"))
        runs[design] = _extraction_pair(bench, es, config, design, ledger["AIRFLOW_CONN_MYSQL_DEFAULT"], mysqld_pid())
        bench.say(f"  {_extraction_line(runs[design])} (shared MariaDB, defaults)")
    pooled = _guard_dict(lambda: _extraction_big_pool(bench, es, s3_url, config))
    product = runs["product"]
    return {
        "pipeline": product["extract"],
        "pit_loop": product["pit_loop"],
        "page_size": page_size,
        "search_rate_limit": {"used": None, "default": limit, "default_floor_seconds": pages / limit},
        "pipeline_big_pool": pooled["product"]["extract"] if "product" in pooled else pooled,
        "designs": {"shared_defaults": runs, "big_pool": pooled},
    }


def _extraction_pair(
    bench: Bench, es: EsProcess, config: ExportConfig, design: str, mysql_conn: str, mysqld: int | None
) -> dict[str, Any]:
    """A bare PIT loop, then ``pipeline.extract`` of the same window with ``design``; with the CPU
    seconds each spent in the worker, the Elasticsearch-compatible server, mysqld and the machine."""
    es_cfg = config.elasticsearch
    es_url = es.url
    profile = bench.profile
    parts = {"es_server": es.pid, "mysqld": mysqld}
    meter = CpuMeter(parts)
    bare = bench.worker(
        "pit_loop",
        {
            "es_url": es_url,
            "index": es_cfg.message_index,
            "timestamp_field": es_cfg.timestamp_field,
            "day": profile.extraction_day.isoformat(),
            "page_size": es_cfg.page_size,
        },
    )
    bare["cpu_seconds"] = meter.stop()
    meter = CpuMeter(parts)
    extract = bench.worker(
        "extract",
        {"day": profile.extraction_day.isoformat(), "design": design},
        env={"AIRFLOW_CONN_MYSQL_DEFAULT": mysql_conn, "MESSAGE_EXPORT_CONFIG": str(bench.config_without_rate_limit())},
    )
    extract["cpu_seconds"] = meter.stop()
    if extract["ids"] != bare["ids"]:
        raise WorkerError(f"extract ({design}) tracked {extract['ids']:,} ids, the bare loop read {bare['ids']:,}")
    extract["pit_loop_seconds"] = bare["seconds"]
    extract["ratio"] = extract["seconds"] / bare["seconds"]
    return {"pit_loop": bare, "extract": extract, "ratio": extract["ratio"]}


def _extraction_line(run: dict[str, Any]) -> str:
    extract, bare = run["extract"], run["pit_loop"]
    return (
        f"{extract['design']}: {extract['seconds']:.1f}s vs bare loop {bare['seconds']:.1f}s = {run['ratio']:.2f}x, "
        f"peak RSS {extract['peak_rss_mb']:.0f} MB, load {extract['load_average_1m']['before']:.1f}"
        f"-{extract['load_average_1m']['after']:.1f}"
        + "".join(f"; {line}" for line in _summary_lines(extract))
        + _claim_tracking_line(extract.get("claim_tracking"))
        + f"\n    CPU of the bare loop {cpu_split(bare['cpu_seconds'])}"
        + f"\n    CPU of {extract['design']} {cpu_split(extract['cpu_seconds'])}"
    )


# the extraction's own summary lines worth a place beside its figures
_SUMMARY_LINE = re.compile(r"ids read and staged in|^\d+ ids tracked in")


def _summary_lines(extract: dict[str, Any]) -> list[str]:
    lines = [line for line in extract.get("pipeline_log", []) if _SUMMARY_LINE.search(line)]
    if extract.get("claim_tracking") is None:
        # a design that tracks within the extraction: the product's line goes on about the batches'
        # ranges and claims, which that design's own pass replaced (its time is the "tracked in" line)
        lines = sorted((line.split(", ", 1)[0] for line in lines), key=lambda line: "read and staged" not in line)
    return lines


def _claim_tracking_line(claim: dict[str, Any] | None) -> str:
    if not claim:
        return ""
    return (
        f"\n    tracked at claim, apart from the extraction: {claim['ids']:,} ids by {claim['batches']:,} batches "
        f"one after the other in {claim['seconds']:.1f}s ({claim['per_second']:,.0f} ids/s)"
    )


def _guard_dict(work: Any) -> dict[str, Any]:
    try:
        return work()
    except Exception as error:  # reported in the figures; the default-config figures stand
        print(f"!! {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}


def _extraction_big_pool(bench: Bench, es: EsProcess, s3_url: str, config: ExportConfig) -> dict[str, Any]:
    """Each design against a private MariaDB whose buffer pool holds the ledger."""
    from bench.mariadb_instance import MariaDbInstance

    profile = bench.profile
    instance = MariaDbInstance(bench.workdir / "mariadb-big-pool", profile.big_buffer_pool_bytes)
    bench.say(f"  starting a private mariadbd with a {profile.big_buffer_pool_bytes / 2**30:.0f} GB buffer pool")
    instance.start()
    runs: dict[str, Any] = {}
    try:
        for design in bench.extraction_designs:
            name = f"ledger_{design}"
            instance.create_database(name)
            conn = json.loads(connection_environment(es.url, s3_url, name)["AIRFLOW_CONN_MYSQL_DEFAULT"])
            conn.update(host="127.0.0.1", port=instance.port, login="root", password="")
            runs[design] = _extraction_pair(bench, es, config, design, json.dumps(conn), instance.pid)
            runs[design]["extract"]["mysql"] = instance.settings()
            bench.say(f"  {_extraction_line(runs[design])} (buffer pool holds it)")
    finally:
        instance.stop()
    return runs
