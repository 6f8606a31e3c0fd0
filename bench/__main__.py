"""``python -m bench [--quick]``: see bench/run.py.

The Airflow environment is set here, before anything imports Airflow or ``message_export``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.environment import airflow_environment, put_repo_on_path

put_repo_on_path()
WORKDIR = Path(tempfile.mkdtemp(prefix="message-export-bench-"))
(WORKDIR / "airflow").mkdir()
os.environ.update(airflow_environment(WORKDIR / "airflow"))

from bench.run import main  # noqa: E402

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:], WORKDIR))
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
