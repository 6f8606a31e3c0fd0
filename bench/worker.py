"""One measurement in a fresh process: ``python -m bench.worker PHASE ARGS_JSON RESULT_PATH``.

A fresh process per measurement keeps each peak RSS its own and keeps the servers (which live in
the orchestrator and in the Elasticsearch process) off this interpreter's GIL. The environment
(connections, ``MESSAGE_EXPORT_CONFIG``, Airflow home) comes from the orchestrator. ARGS_JSON holds
the measuring function's keyword arguments; a ``day`` is an ISO date-time.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.environment import put_repo_on_path

put_repo_on_path()

from bench.measure import peak_rss_mb, rss_mb  # noqa: E402

# phase -> the function that measures it
PHASES = {
    "reference": "bench.reference:run_reference",
    "pipeline": "bench.pipeline_run:run_pipeline",
    "extract_again": "bench.pipeline_run:extract_again",
    "process_batches": "bench.pipeline_run:process_batches",
    "ceilings": "bench.ceilings:measure_ceilings",
    "search_ceiling": "bench.ceilings:es_read_ceilings",
    "ledger_sizes": "bench.ledger_size:run_ledger_sizes",
    "extract": "bench.extraction:run_extract",
    "pit_loop": "bench.extraction:run_pit_loop",
    "airflow": "bench.pipeline_run:run_dag_test",
}


def main(argv: list[str]) -> int:
    phase, raw_args, result_path = argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module, name = PHASES[phase].split(":")
    measure, args = getattr(importlib.import_module(module), name), json.loads(raw_args)
    if "day" in args:
        args["day"] = datetime.fromisoformat(args["day"])
    started = time.perf_counter()
    rss_at_start = rss_mb()
    result = measure(**args)
    result["worker"] = {
        "rss_at_start_mb": rss_at_start,
        "peak_rss_mb": peak_rss_mb(),
        "seconds": time.perf_counter() - started,
    }
    Path(result_path).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
