"""The benchmark run: start the services, load the data, measure each part in a worker, report.

Phases, in order: the reference design (baseline) → the pipeline at three sizes → each stage's
ceiling → both archive layouts over one window → scale-out over N worker processes → Airflow's
``dag.test()`` → the ledger's statements as it grows and after retention → extraction of the large
window against a bare PIT loop → the dashboard's queries on a year of ledger. A phase that fails is
reported as such; the others still run. The figures go to ``bench/results/<UTC time>-<profile>.json``;
a full run of every phase also renders docs/performance.md from them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import celery_scaleout, dashboard_queries
from bench.environment import REPO
from bench.measure import CpuMeter, mysqld_pid
from bench.profiles import FULL, QUICK, Profile
from bench.report import RESULTS, cpu_split, derive, ledger_cost_ratio, render_text, write_docs
from bench.seeding import seed_all
from bench.services import (
    BUCKET,
    MYSQL,
    EsProcess,
    MariaDbInstance,
    MemoryS3Process,
    MySqlDatabase,
    S3Stack,
    create_database,
    mysql_conn_json,
    server_settings,
    write_config,
)
from devstack.connections import connection_environment

# the config's search fields the reference design and the ceilings read
SEARCH_FIELDS = ("message_index", "related", "timestamp_field", "related_id_field")


class Bench:
    """One run: its profile, work directory, clock, figures and services, and the workers it starts."""

    es: EsProcess
    s3: S3Stack
    database: MySqlDatabase
    migrate: subprocess.Popen[bytes] | None

    def __init__(self, profile: Profile, workdir: Path, raw: dict[str, Any]) -> None:
        self.profile, self.workdir, self.raw = profile, workdir, raw
        self.started = time.perf_counter()
        self.workers = 0

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {text}", flush=True)

    def config(self, name: str, **overrides: Any) -> Path:
        """The packaged config with ``overrides``, written once per run as ``<name>.yaml``."""
        path = self.workdir / f"{name}.yaml"
        return path if path.exists() else write_config(path, **overrides)

    def no_rate_limit(self) -> dict[str, str]:
        """A worker's environment with the search rate limit off."""
        path = self.config("message_export_no_rate_limit", elasticsearch={"max_requests_per_second": None})
        return {"MESSAGE_EXPORT_CONFIG": str(path)}

    def worker(self, phase: str, args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run one measurement in a fresh ``python -m bench.worker`` process; return its figures."""
        load_before = os.getloadavg()
        figures = self.spawn(phase, args, env)()
        # Other work on the machine slows the CPU-bound local servers: keep the evidence with the figures.
        figures["load_average_1m"] = {"before": load_before[0], "after": os.getloadavg()[0]}
        return figures

    def spawn(self, phase: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Callable[[], Any]:
        """Start ``python -m bench.worker`` for ``phase``; call the result to wait for its figures."""
        self.workers += 1
        stem = self.workdir / f"{self.workers:02d}-{phase}"
        result, log = stem.with_suffix(".json"), stem.with_suffix(".log")
        command = [sys.executable, "-m", "bench.worker", phase, json.dumps(args, default=str), str(result)]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT
            )

        def collect() -> dict[str, Any]:
            code = process.wait()
            if code != 0 or not result.exists():
                tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
                raise RuntimeError(f"worker '{phase}' exited with {code}:\n{tail}")
            return json.loads(result.read_text(encoding="utf-8"))

        return collect


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in a few minutes")
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated phases to run (default: all of {', '.join(PHASES)})"
    )
    parser.add_argument("--extraction-ids", type=int, help="ids in the extraction window (default: the profile's)")
    parser.add_argument(
        "--render-docs", type=Path, metavar="RESULTS", help="only render docs/performance.md from a results file"
    )
    return parser.parse_args(argv)


def main(argv: list[str], workdir: Path) -> int:
    args = parse_args(argv)
    if args.render_docs:
        print(f"rendered {write_docs(args.render_docs)} from {args.render_docs}")
        return 0
    phases = [phase.strip() for phase in args.only.split(",") if phase.strip()]
    if unknown := sorted(set(phases) - set(PHASES)):
        print(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}", file=sys.stderr)
        return 2
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the server process and the databases are cleaned up.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    profile = QUICK if args.quick else FULL
    if args.extraction_ids:
        profile = replace(profile, extraction_ids=args.extraction_ids)
    every_phase = set(phases) == set(PHASES)
    started_at = datetime.now(UTC)
    # a run of the celery phase alone is kept: docs/celery.md's capacity guidance rests on it
    kept = "" if every_phase else "-celery" if phases == ["celery"] else "-partial"
    output = RESULTS / f"{started_at:%Y%m%dT%H%M%SZ}-{profile.name}{kept}.json"
    latency = {"elasticsearch": profile.es_latency, "s3": profile.s3_latency}
    raw: dict[str, Any] = {
        "generated_at": started_at.isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": " ".join(["python -m bench", *argv]),
        "profile": profile.describe(),
        "machine": _machine(started_at),
        "latency": {**{name: {**vars(lat), "mean_ms": lat.mean_ms} for name, lat in latency.items()}, "mysql": None},
        "errors": {},
    }
    bench = Bench(profile, workdir, raw)
    bench.say(f"{profile.name} benchmark; work directory {workdir}")
    bench.migrate = None
    if "airflow" in phases:
        with (workdir / "airflow-db-migrate.log").open("wb") as log:
            command = [sys.executable, "-m", "airflow", "db", "migrate"]
            bench.migrate = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    bench.database = database = MySqlDatabase.create()
    s3 = es = None
    try:
        bench.s3 = s3 = S3Stack(MemoryS3Process(workdir / "s3-server.log").start())
        bench.es = es = EsProcess(workdir / "es-server.log").start()
        os.environ.update(
            connection_environment(
                es_url=es.url, s3_url=s3.url, mysql=MYSQL, database=database.name, s3_credentials=s3.server.credentials
            )
        )
        os.environ["MESSAGE_EXPORT_CONFIG"] = str(bench.config("message_export"))
        bench.say(
            f"services up: Elasticsearch-compatible {es.url}, S3 proxy {s3.url} -> {s3.server.name}, "
            f"MySQL `{database.name}`"
        )
        raw["seeding"] = seed_all(es.url, profile)
        loaded = ", ".join(f"{name} {info['messages']:,}" for name, info in raw["seeding"]["sets"].items())
        bench.say(f"data loaded in {raw['seeding']['seconds']:.1f}s: {loaded}")
        es.set_latency(profile.es_latency)
        s3.set_latency(profile.s3_latency)
        settings = ("version", "innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit", "innodb_flush_method")
        raw["services"] = {"es_server_rss_mb": es.rss_mb(), "mysql": server_settings(MYSQL, *settings)}
        for phase, measure in PHASES.items():
            if phase in phases:
                raw[phase] = _guard(raw, phase, lambda measure=measure: measure(bench))
    finally:
        if es is not None:
            raw.setdefault("services", {})["es_server_rss_mb_end"] = es.rss_mb()
            es.stop()
        if s3 is not None:
            s3.stop()
        if bench.migrate is not None and bench.migrate.poll() is None:
            bench.migrate.terminate()
        database.drop()

    raw["duration_seconds"] = time.perf_counter() - bench.started
    figures = derive(raw)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    print(f"\n{render_text(figures)}")
    print(f"\nfigures written to {output} ({raw['duration_seconds']:.0f}s in all)")
    if profile.name == FULL.name and every_phase:
        print(f"rendered {write_docs(output)}")
    return 1 if raw["errors"] else 0


def _commit() -> str:
    """The commit measured, with ``+changes`` when the work tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _machine(now: datetime) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    models = [line for line in cpuinfo.read_text().splitlines() if "model name" in line] if cpuinfo.exists() else []
    return {
        "cpu_model": models[0].split(":", 1)[1].strip() if models else platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "date": now.date().isoformat(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _guard(raw: dict[str, Any], phase: str, work: Callable[[], Any]) -> dict[str, Any]:
    try:
        return work()
    except Exception as error:  # a failed phase is reported; the rest of the run goes on
        text = f"{type(error).__name__}: {error}"
        raw["errors"][phase] = text
        print(f"!! {phase} failed: {text}", file=sys.stderr, flush=True)
        return {"error": text.splitlines()[0]}


def _config() -> Any:
    from message_export.config import load_config

    return load_config(os.environ["MESSAGE_EXPORT_CONFIG"])


def _baseline(bench: Bench) -> dict[str, Any]:
    profile, es_cfg = bench.profile, _config().elasticsearch
    bench.say(f"baseline: reference design, {profile.baseline_messages:,} messages one at a time")
    setup = {"es_url": bench.es.url, "s3_url": bench.s3.url, "bucket": BUCKET, "mysql": bench.database.params}
    setup.update({name: getattr(es_cfg, name) for name in SEARCH_FIELDS})
    args = {"setup": setup, "day": profile.baseline_day.isoformat(), "messages": profile.baseline_messages}
    result = bench.worker("reference", args)
    bench.say(
        f"  {result['messages']:,} messages in {result['process_seconds']:.1f}s "
        f"({result['messages'] / result['process_seconds']:.1f} msg/s), extraction {result['extract_seconds']:.1f}s"
    )
    return result


def _pipeline(bench: Bench) -> list[dict[str, Any]]:
    runs, raw = [], bench.raw
    for size, day in zip(bench.profile.scaling_sizes, bench.profile.scaling_days, strict=True):
        bench.say(f"pipeline: window {day:%Y-%m-%d}, {size:,} messages")
        run = _guard(raw, f"pipeline {size}", lambda day=day: bench.worker("pipeline", {"day": day.isoformat()}))
        run["size"] = size
        if "error" not in run:
            if run["failed"] or run["completed"] != size:
                raw["errors"][f"pipeline {size}"] = f"{run['completed']} completed, {run['failed']} failed of {size}"
            bench.say(
                f"  extract {run['extract_seconds']:.1f}s, process {run['process_seconds']:.1f}s "
                f"({run['completed'] / run['process_seconds']:.0f} msg/s), peak RSS {run['peak_rss_mb']:.0f} MB"
            )
        runs.append(run)
    return runs


def _ceilings(bench: Bench) -> dict[str, Any]:
    profile, config, s3 = bench.profile, _config(), bench.s3
    # a batch is read a chunk at a time, and a chunk never spans two batches: the loops read what it reads
    chunk = min(config.batch_size, config.fetch_chunk_size)
    concurrency, day = config.s3.max_concurrency, profile.scaling_days[-1]
    try:
        body_bytes = s3.mean_object_size(f"{config.s3.prefix}/dt={day:%Y-%m-%d}/")
    except RuntimeError:
        body_bytes = profile.body_bytes * 2  # pipeline did not run: archive documents are about twice the body
    bench.say(
        f"ceilings: {profile.ceiling_puts:,} PUTs x{concurrency}, {profile.ceiling_mget_chunks} _mget of {chunk:,}, "
        f"{profile.ceiling_mysql_rows:,} bulk ledger rows"
    )
    s3_args = {"s3_url": s3.url, "bucket": BUCKET, "puts": profile.ceiling_puts, "body_bytes": body_bytes}
    s3_args.update(concurrency=concurrency, credentials=list(s3.server.credentials))
    es_args = {name: getattr(config.elasticsearch, name) for name in SEARCH_FIELDS}
    es_args.update(es_url=bench.es.url, day=day.isoformat(), chunk_size=chunk, chunks=profile.ceiling_mget_chunks)
    mysql_args = {"mysql": bench.database.params, "rows": profile.ceiling_mysql_rows, "chunk_size": chunk}
    result = bench.worker("ceilings", {"s3": s3_args, "es": es_args, "mysql": mysql_args})
    s3_put, mget, mysql = result["s3"], result["mget"], result["mysql"]
    bench.say(
        f"  S3 {s3_put['per_second']:.0f} PUT/s ({s3_put['cpu_ms_per_put']:.2f} ms CPU per PUT), "
        f"ES _mget {mget['per_second']:.0f} docs/s (with related {result['chunk_read']['per_second']:.0f}/s), "
        f"MySQL {mysql['per_second']:.0f} rows/s"
    )
    return result


# each layout's objects, by how their keys end (docs/archive.md, "Layouts")
LAYOUT_SUFFIXES = {"message": ".json", "batch": ".jsonl.gz"}


# (result name, layout, what else differs from the packaged config besides the layout and the batch size)
LAYOUT_RUNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("message", "message", {}),
    ("batch", "batch", {}),
    # on the search ceiling's terms: no rate limit, as the bare loop reads (the packaged 20 requests/s allow
    # 5 chunks of four requests a second: 5,000 msg/s per worker in chunks of 1,000)
    ("batch_search_limit_off", "batch", {"search_limit_off": True}),
)


def _layouts(bench: Bench) -> dict[str, Any]:
    """Both archive layouts export the same window on one worker at the same injected latencies: messages/s,
    CPU per message by stage, PUT requests and bytes stored per message; then the batch layout once more with
    the search rate limit off, next to the search cluster's own ceiling measured on the same ids in chunks of
    the size a batch is read in. The window has its own day, cut into batches of the profile's
    ``layouts_batch_size``. The in-memory S3 server has no multipart upload, so batch objects stay under
    one 8 MiB part (``s3.batch_object_max_bytes``): a batch writes several."""
    profile, packaged = bench.profile, _config()
    day, size, batch_size = profile.layouts_day, profile.layouts_messages, profile.layouts_batch_size
    chunk = min(batch_size, packaged.fetch_chunk_size)
    prefix = f"{packaged.s3.prefix}/dt={day:%Y-%m-%d}/"
    results: dict[str, Any] = {"size": size, "day": day.date().isoformat(), "batch_size": batch_size, "chunk": chunk}
    es_args = {name: getattr(packaged.elasticsearch, name) for name in SEARCH_FIELDS}
    es_args.update(es_url=bench.es.url, day=day.isoformat(), chunk_size=chunk, chunks=size // chunk)
    bench.say(f"layouts: the search ceiling, {size // chunk} chunks of {chunk:,} read bare, window {day:%Y-%m-%d}")
    ceiling = bench.worker("search_ceiling", es_args)
    results["search_ceiling"] = ceiling["chunk_read"]
    bench.say(f"  {ceiling['chunk_read']['per_second']:,.0f} messages/s read with their related searches")
    for name, layout, terms in LAYOUT_RUNS:
        suffix = LAYOUT_SUFFIXES[layout]
        overrides: dict[str, Any] = {
            "s3": {"layout": layout, "batch_object_max_bytes": 8 * 2**20},
            "batch_size": batch_size,
        }
        if terms.get("search_limit_off"):
            overrides["elasticsearch"] = {"max_requests_per_second": None}
        config = bench.config(f"layout-{name}", **overrides)
        env = {"MESSAGE_EXPORT_CONFIG": str(config)}
        bench.say(f"layouts: {name}, window {day:%Y-%m-%d} ({size:,} messages) exported on one worker")
        run_id = f"layouts-{name}"
        batches = bench.worker("extract_again", {"day": day.isoformat(), "run_id": run_id}, env)["batch_ids"]
        puts_before = bench.s3.put_requests()
        run = bench.worker("process_batches", {"batch_ids": batches, "run_id": run_id}, env)
        run["put_requests"] = bench.s3.put_requests() - puts_before
        # a re-extracted window keeps its batches, so a layout's runs write the same keys (a batch object's key
        # is its SHA-256): what is under the day's prefix is what this run stored
        run["objects"], run["stored_bytes"] = bench.s3.stored(prefix, suffix)
        run["terms"] = {"batches": len(batches), **terms}
        results[name] = run
        done = max(run["completed"], 1)
        per_message = (
            f"{1000 * run['process_cpu_seconds'] / done:.2f} ms CPU, {1000 * run['put_requests'] / done:.1f} PUTs "
            f"per 1,000, {run['stored_bytes'] / done:,.0f} B stored"
        )
        bench.say(f"  {run['completed'] / run['process_seconds']:.0f} msg/s; per message {per_message}")
    return results


def _scale_out(bench: Bench) -> dict[str, Any]:
    """N worker processes (N mapped-task slots) process one window's batches at once, for each N."""
    profile, cpus, es, s3 = bench.profile, os.cpu_count() or 1, bench.es, bench.s3
    day, size = profile.scaling_days[1], profile.scaling_sizes[1]
    parts = {"es_server": es.pid, "s3_server": s3.server.pid, "s3_proxy": os.getpid(), "mysqld": mysqld_pid()}
    upload_slots = _config().s3.max_concurrency  # uploads in flight per worker process
    # (workers, their environment, what differs from the product as it ships); then one worker again
    # with the search rate limit off: what the limit's window still costs one worker (a chunk's four
    # reads leave together; only more than the limit in a second waits).
    plan = [(workers, {}, "") for workers in profile.scaleout_workers]
    plan.append((1, bench.no_rate_limit(), "search rate limit off"))
    runs = []
    for number, (workers, worker_env, variant) in enumerate(plan):
        # The window keeps the batches of its first export (reprocess only resets the messages'
        # status), so each worker takes every N-th batch, as free mapped-task slots would.
        run_id = f"bench-scaleout-{number}-{workers}"
        extracted = bench.worker("extract_again", {"day": day.isoformat(), "run_id": run_id})
        shares = [share for i in range(workers) if (share := extracted["batch_ids"][i::workers])]
        differs = f"; {variant}" if variant else ""
        bench.say(f"scale-out: {workers} worker process(es), window {day:%Y-%m-%d} ({size:,} messages){differs}")
        meter = CpuMeter(parts)
        waits = [bench.spawn("process_batches", {"batch_ids": share, "run_id": run_id}, worker_env) for share in shares]
        results = [wait() for wait in waits]
        cpu = meter.stop()
        wall, busy = cpu["wall"] or 0.0, cpu["machine_busy"] or 0.0
        workers_cpu = sum(r["process_cpu_seconds"] for r in results)
        completed = sum(r["completed"] for r in results)
        processing_wall = max(r["finished_at"] for r in results) - min(r["started_at"] for r in results)
        cores_used = {
            "workers_total": workers_cpu / processing_wall,
            "per_worker_max": max(r["process_cpu_seconds"] / r["process_seconds"] for r in results),
            **{name: None if cpu[name] is None else cpu[name] / wall for name in parts},
            "machine_busy": busy / wall,
        }
        latency_bound = len(shares) * upload_slots * 1000 / profile.s3_latency.mean_ms
        run = {
            "workers": workers,
            "variant": variant,
            "messages": completed,
            "failed": sum(r["failed"] for r in results),
            "expected": size,
            "wall_seconds": processing_wall,
            "per_second": completed / processing_wall,
            "extract_seconds": extracted["extract_seconds"],
            "cores_used": cores_used,
            "cpu_ms_per_message": 1000 * workers_cpu / max(completed, 1),
            "cpu_count": os.cpu_count(),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in results),
            "saturated": _saturated(cores_used, cpus, completed / processing_wall, latency_bound),
        }
        runs.append(run)
        bench.say(
            f"  {completed:,} messages in {processing_wall:.1f}s = {run['per_second']:.0f} msg/s; "
            f"cores: workers {cores_used['workers_total']:.2f}, machine {busy / wall:.2f} of {os.cpu_count()}; "
            f"saturated: {run['saturated']}"
        )
        if completed != size:
            raise RuntimeError(f"scale-out with {workers} workers archived {completed:,} of {size:,} messages")
    return {"day": day.date().isoformat(), "size": size, "runs": runs}


def _saturated(cores: dict[str, float | None], cpu_count: int, per_second: float, latency_bound: float) -> str:
    """Name what ran out first: a single-threaded server, the machine's CPUs, S3's latency, a
    worker's GIL, or nothing identified.

    :param latency_bound: messages/s with every upload slot of every worker busy, one S3 latency each.
    """
    single = {"es_server": "Elasticsearch-compatible server", "s3_server": "S3 server", "s3_proxy": "S3 latency proxy"}
    for name, label in single.items():
        if (cores.get(name) or 0) >= 0.85:
            return f"{label} (1 core)"
    if (cores.get("machine_busy") or 0) >= 0.9 * cpu_count:
        return f"machine CPU ({cpu_count} cores busy, shared with other work)"
    if per_second >= 0.8 * latency_bound:
        return f"S3 latency (uploads in flight x S3 latency allow {latency_bound:,.0f} msg/s)"
    # A Python process whose threads pass the GIL back and forth shows 0.78-0.88 of a core when its
    # Python work is what limits it.
    if (cores.get("per_worker_max") or 0) >= 0.75:
        return f"worker CPU (one core per worker process: the GIL; S3 latency would allow {latency_bound:,.0f} msg/s)"
    return f"none identified (below S3's latency bound of {latency_bound:,.0f} msg/s and every core)"


def _airflow(bench: Bench) -> dict[str, Any]:
    profile = bench.profile
    if bench.migrate is not None and bench.migrate.wait() != 0:
        log = (bench.workdir / "airflow-db-migrate.log").read_text(encoding="utf-8", errors="replace")
        raise RuntimeError(f"airflow db migrate failed:\n{log[-3000:]}")
    batches = {"batch_size": profile.airflow_batch_size, "max_batches": max(profile.airflow_batches, 200)}
    config = bench.config("message_export_airflow", **batches)
    bench.say(
        f"Airflow: dag.test() of window {profile.airflow_day:%Y-%m-%d}, "
        f"{profile.airflow_messages:,} messages in {profile.airflow_batches} mapped batches"
    )
    day = {"day": profile.airflow_day.isoformat()}
    result = {
        **bench.worker("airflow", day, {"MESSAGE_EXPORT_CONFIG": str(config)}),
        "messages": profile.airflow_messages,
    }
    if result["state"] != "success":
        raise RuntimeError(f"dag.test() ended {result['state']}: {', '.join(result['task_states'])}")
    bench.say(
        f"  wall {result['wall_seconds']:.1f}s, tasks' own time {result['own_seconds']:.1f}s, "
        f"{result['task_instances']} task instances"
    )
    return result


def _ledger(bench: Bench) -> dict[str, Any]:
    """A run's ledger statements as the ledger grows, on a private mariadbd with MariaDB's default
    128 MB buffer pool (its redo log is larger, which only speeds up generating the rows)."""
    profile = bench.profile
    rows = sum(days * per_day for days, per_day in profile.ledger_sizes)
    bench.say(
        f"ledger size: a run's statements on a small ledger, with up to {rows:,} earlier rows, then after retention"
    )
    redo = ("--innodb-log-file-size=1073741824", "--innodb-flush-log-at-trx-commit=2")
    with MariaDbInstance(bench.workdir / "mariadb-ledger", 128 * 2**20, redo) as instance:
        for name in ("ledger", "ledger_small"):
            create_database(instance.params, name)
        args = {
            "mysql": {**instance.params, "database": "ledger"},
            "small_mysql": {**instance.params, "database": "ledger_small"},
            "sizes": [list(size) for size in profile.ledger_sizes],
            "job_messages": 5_000,
            "batch_size": 500,
            "repeats": 5,
        }
        env = {"AIRFLOW_CONN_MYSQL_DEFAULT": mysql_conn_json(instance.params, "ledger")}
        result = {**bench.worker("ledger_sizes", args, env), "mysql": instance.settings()}
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


def _extraction(bench: Bench) -> dict[str, Any]:
    """``pipeline.extract`` into an empty ledger right after a bare loop of its own (on a shared
    machine the load drifts, so each ratio compares two runs made one after the other): on the shared
    MariaDB with its defaults, then on a private one whose buffer pool holds the ledger."""
    profile, es_cfg, es = bench.profile, _config().elasticsearch, bench.es
    pages = -(-profile.extraction_ids // es_cfg.page_size)
    limit = es_cfg.max_requests_per_second
    # The search rate limit protects a production cluster and is the user's to set; at its default it
    # would pace the reads (pages / limit seconds at the least), so this phase measures the design with
    # it off, on the bare loop's terms, and reports the floor the default puts under it.
    bench.say(
        f"extraction: {profile.extraction_ids:,} ids in {pages:,} pages of {es_cfg.page_size:,}; search rate limit "
        f"off (the default {limit:g}/s alone would take >= {pages / limit:.1f}s)"
    )

    def pair(mysql_conn: str, mysqld: int | None, where: str) -> dict[str, Any]:
        """A bare PIT loop, then ``pipeline.extract`` of the same window; with the CPU seconds each
        spent in the worker, the Elasticsearch-compatible server, mysqld and the machine."""
        day, parts = profile.extraction_day.isoformat(), {"es_server": es.pid, "mysqld": mysqld}
        loop_args = {"es_url": es.url, "index": es_cfg.message_index, "timestamp_field": es_cfg.timestamp_field}
        meter = CpuMeter(parts)
        bare = bench.worker("pit_loop", {**loop_args, "day": day, "page_size": es_cfg.page_size})
        bare["cpu_seconds"] = meter.stop()
        meter = CpuMeter(parts)
        extract = bench.worker(
            "extract", {"day": day}, {**bench.no_rate_limit(), "AIRFLOW_CONN_MYSQL_DEFAULT": mysql_conn}
        )
        extract["cpu_seconds"] = meter.stop()
        if extract["ids"] != bare["ids"]:
            raise RuntimeError(f"extract staged {extract['ids']:,} ids, the bare loop read {bare['ids']:,}")
        claim = extract["claim_tracking"]
        bench.say(
            f"  pipeline.extract {extract['seconds']:.1f}s vs bare loop {bare['seconds']:.1f}s = "
            f"{extract['seconds'] / bare['seconds']:.2f}x, peak RSS {extract['peak_rss_mb']:.0f} MB; "
            f"then every batch's tracking, one after the other: {claim['ids']:,} ids in {claim['seconds']:.1f}s"
            + "".join(f"\n    {line}" for line in extract["pipeline_log"])
            + f"\n    CPU of the bare loop {cpu_split(bare['cpu_seconds'])}"
            + f"\n    CPU of the extraction {cpu_split(extract['cpu_seconds'])} ({where})"
        )
        return {"pit_loop": bare, "extract": extract}

    result: dict[str, Any] = {
        "page_size": es_cfg.page_size,
        "search_rate_limit": {"used": None, "default": limit, "default_floor_seconds": pages / limit},
        "defaults": pair(
            mysql_conn_json(MYSQL, bench.database.sibling("extraction")), mysqld_pid(), "shared MariaDB, defaults"
        ),
    }
    bench.say(f"  starting a private mariadbd with a {profile.big_buffer_pool_bytes / 2**30:.0f} GB buffer pool")
    try:
        with MariaDbInstance(bench.workdir / "mariadb-big-pool", profile.big_buffer_pool_bytes) as instance:
            create_database(instance.params, "ledger")
            conn = mysql_conn_json(instance.params, "ledger")
            result["big_pool"] = {**pair(conn, instance.pid, "buffer pool holds it"), "mysql": instance.settings()}
    except Exception as error:  # reported in the figures; the default-config figures stand
        result["big_pool"] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
        print(f"!! extraction with the big pool: {result['big_pool']['error']}", file=sys.stderr, flush=True)
    return result


def _dashboard(bench: Bench) -> dict[str, Any]:
    return dashboard_queries.measure(bench.profile.name, MYSQL, bench.database.sibling("dashboard"), say=bench.say)


# the phases, in the order they run
PHASES: dict[str, Callable[[Bench], Any]] = {
    "baseline": _baseline,
    "pipeline": _pipeline,
    "ceilings": _ceilings,
    "layouts": _layouts,
    "scaleout": _scale_out,
    "airflow": _airflow,
    "ledger": _ledger,
    "extraction": _extraction,
    "dashboard": _dashboard,
    "celery": celery_scaleout.measure,  # the real DAG under the CeleryExecutor with 1, 2 and 4 task slots
}
