"""Run the real DAG once with ``dag.test()`` in a process of its own and print the run's id and state.

For tests that need Airflow configured otherwise than the test session (Airflow reads ``[metrics]``
once per process, when its metrics logger is first built): the caller sets ``AIRFLOW__*`` in this
process's environment. Usage: ``python -m tests.harness.run_dag [--logical-date ISO] [--conf JSON]``.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from tests.harness.stack import export_dag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logical-date", help="ISO timestamp; omitted: a run without a logical date")
    parser.add_argument("--conf", default="{}", help="the run's conf (params) as JSON")
    args = parser.parse_args()
    logical_date = datetime.fromisoformat(args.logical_date) if args.logical_date else None
    run = export_dag().test(logical_date=logical_date, run_conf=json.loads(args.conf))
    print(json.dumps({"run_id": run.run_id, "state": str(getattr(run.state, "value", run.state))}))


if __name__ == "__main__":
    main()
