"""``[core] hostname_callable`` for several Celery workers on one machine.

A task instance records the hostname of the worker that ran it. Containers on MWAA each have their own;
two local workers share the machine's, so each is given its own name in ``AIRFLOW_LOCAL_WORKER_HOSTNAME``.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """The worker's own name when it has one, else the machine's fully qualified name (Airflow's default)."""
    return os.environ.get("AIRFLOW_LOCAL_WORKER_HOSTNAME") or socket.getfqdn()
