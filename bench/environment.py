"""Process setup shared by the orchestrator and its workers; imports nothing from Airflow.

Airflow reads its configuration at import time, so ``AIRFLOW_HOME`` and friends must be in the
environment before the first ``import airflow`` (directly or through ``message_export``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "plugins"


def put_repo_on_path() -> None:
    """Make ``message_export`` (plugins/) and ``devstack`` / ``bench`` (repo root) importable."""
    for path in (str(REPO), str(PLUGINS)):
        if path not in sys.path:
            sys.path.insert(0, path)


def airflow_environment(airflow_home: Path) -> dict[str, str]:
    """Return the variables that point Airflow at an isolated home and this repository's DAGs."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # dag.test() logs every task's lines to the console; the bench reports its own figures.
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # Workers (subprocesses) find the same packages as the orchestrator.
        "PYTHONPATH": os.pathsep.join([str(PLUGINS), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
