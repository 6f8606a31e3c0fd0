#!/usr/bin/env bash
# Make sure PostgreSQL answers on $AIRFLOW_PG_HOST:$AIRFLOW_PG_PORT (default 127.0.0.1:5432) for the Airflow
# metadata database of `make airflow` and tests/airflow; start the local cluster if it is installed.
set -euo pipefail
HOST="${AIRFLOW_PG_HOST:-127.0.0.1}"
PORT="${AIRFLOW_PG_PORT:-5432}"
. "$(dirname "$0")/port_wait.sh"
if port_up "$HOST" "$PORT"; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
else
  echo "no PostgreSQL on $HOST:$PORT and none installed; install one (apt-get install postgresql) or start it" >&2
  exit 1
fi
wait_for_port "PostgreSQL" "$HOST" "$PORT"
