#!/usr/bin/env bash
# Make sure PostgreSQL answers on $AIRFLOW_PG_HOST:$AIRFLOW_PG_PORT (default 127.0.0.1:5432) for the Airflow
# metadata database of `make airflow` and tests/airflow; start the local cluster if it is installed.
set -euo pipefail
HOST="${AIRFLOW_PG_HOST:-127.0.0.1}"
PORT="${AIRFLOW_PG_PORT:-5432}"
up() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }
if up; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
else
  echo "no PostgreSQL on $HOST:$PORT and none installed; install one (apt-get install postgresql) or start it" >&2
  exit 1
fi
for _ in $(seq 1 60); do
  if up; then exit 0; fi
  sleep 1
done
echo "PostgreSQL did not start listening on $HOST:$PORT within 60s" >&2
exit 1
