"""One measurement in a fresh process: ``python -m bench.worker PHASE ARGS_JSON RESULT_PATH``.

A fresh process per measurement keeps each peak RSS its own and keeps the servers (which live in
the orchestrator and in the Elasticsearch process) off this interpreter's GIL. The environment
(connections, ``MESSAGE_EXPORT_CONFIG``, Airflow home) comes from the orchestrator.
"""

from __future__ import annotations

import cProfile
import json
import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.environment import put_repo_on_path

put_repo_on_path()

from bench.measure import peak_rss_mb, rss_mb  # noqa: E402


def _day(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _reference(args: dict[str, Any]) -> dict[str, Any]:
    from bench.reference import ReferenceSetup, run_reference

    return run_reference(ReferenceSetup(**args["setup"]), _day(args["day"]), args["messages"])


def _pipeline(args: dict[str, Any]) -> dict[str, Any]:
    from bench.pipeline_run import run_pipeline

    return run_pipeline(_day(args["day"]))


def _extract_again(args: dict[str, Any]) -> dict[str, Any]:
    from bench.pipeline_run import extract_again

    return extract_again(_day(args["day"]), args["run_id"])


def _process_batches(args: dict[str, Any]) -> dict[str, Any]:
    from bench.pipeline_run import process_batches

    return process_batches(args["batch_ids"], args["run_id"])


def _ceilings(args: dict[str, Any]) -> dict[str, Any]:
    from bench import ceilings

    es = args["es"]
    return {
        "s3": ceilings.s3_put_ceiling(**args["s3"]),
        **ceilings.es_read_ceilings(**{**es, "day": _day(es["day"])}),
        "mysql": ceilings.mysql_bulk_ceiling(**args["mysql"]),
    }


def _ledger_sizes(args: dict[str, Any]) -> dict[str, Any]:
    from bench.ledger_size import run_ledger_sizes

    sizes = [(days, per_day) for days, per_day in args["sizes"]]
    return run_ledger_sizes(
        args["mysql"], sizes, args["job_messages"], args["batch_size"], args["repeats"], args["small_mysql"]
    )


def _extract(args: dict[str, Any]) -> dict[str, Any]:
    from bench.extraction import run_extract

    return run_extract(_day(args["day"]))


def _pit_loop(args: dict[str, Any]) -> dict[str, Any]:
    from bench.extraction import run_pit_loop

    return run_pit_loop(**{**args, "day": _day(args["day"])})


def _airflow(args: dict[str, Any]) -> dict[str, Any]:
    from bench.airflow_run import run_dag_test

    return run_dag_test(_day(args["day"]))


PHASES = {
    "reference": _reference,
    "pipeline": _pipeline,
    "ceilings": _ceilings,
    "ledger_sizes": _ledger_sizes,
    "extract_again": _extract_again,
    "process_batches": _process_batches,
    "extract": _extract,
    "pit_loop": _pit_loop,
    "airflow": _airflow,
}


def main(argv: list[str]) -> int:
    phase, raw_args, result_path = argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    rss_at_start = rss_mb()
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    if profile_dir:
        # cProfile of the phase (this thread only), for reading with pstats; the figures then carry its overhead
        profiler = cProfile.Profile()
        result = profiler.runcall(PHASES[phase], json.loads(raw_args))
        profiler.dump_stats(Path(profile_dir) / f"{phase}-{os.getpid()}.prof")
    else:
        result = PHASES[phase](json.loads(raw_args))
    result["worker"] = {
        "rss_at_start_mb": rss_at_start,
        "peak_rss_mb": peak_rss_mb(),
        "seconds": time.perf_counter() - started,
    }
    Path(result_path).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
