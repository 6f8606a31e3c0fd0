#!/usr/bin/env bash
# Install the system packages the project needs (Debian/Ubuntu), if missing:
# - pkg-config and libmariadb-dev, which mysqlclient builds against;
# - chromium and chromium-driver, the browser the dashboard's browser tests drive (tests/dashboard);
# - redis-server, the Celery broker of `make airflow EXECUTOR=celery`, tests/airflow/test_celery.py and the bench.
set -euo pipefail
missing=()
if ! { command -v pkg-config >/dev/null && { pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; }; }; then
  missing+=(pkg-config libmariadb-dev)
fi
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]}; install them with your package manager" >&2
  exit 1
fi
echo "installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
