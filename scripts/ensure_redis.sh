#!/usr/bin/env bash
# Make sure Redis answers on $REDIS_HOST:$REDIS_PORT (default 127.0.0.1:6379): the Celery broker of
# `make airflow EXECUTOR=celery`. Starts Debian's redis-server (scripts/ensure_system_deps.sh installs it) when it
# is installed but not running. The tests and the benchmark run a private redis-server of their own.
set -euo pipefail
HOST="${REDIS_HOST:-127.0.0.1}"
PORT="${REDIS_PORT:-6379}"
. "$(dirname "$0")/port_wait.sh"
if port_up "$HOST" "$PORT"; then exit 0; fi
if command -v redis-server >/dev/null; then
  echo "starting redis-server on $HOST:$PORT"
  redis-server --bind "$HOST" --port "$PORT" --daemonize yes --save "" --appendonly no \
    --logfile /tmp/redis-server-"$PORT".log
else
  echo "no Redis on $HOST:$PORT and redis-server is not installed; run scripts/ensure_system_deps.sh" >&2
  exit 1
fi
wait_for_port "Redis" "$HOST" "$PORT"
