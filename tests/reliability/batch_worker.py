"""Runs one mapped ``process_batch`` exactly as the DAG's task does, in its own process, so tests
can SIGKILL, SIGSTOP and race it. Usage: ``python -m tests.reliability.batch_worker BATCH_ID RUN_ID``."""

from __future__ import annotations

import json
import sys

from message_export import pipeline


def main() -> int:
    batch_id, run_id = int(sys.argv[1]), sys.argv[2]
    try:
        result = pipeline.process_batch(batch_id, run_id)
    except Exception as error:
        print(json.dumps({"error": str(error)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
