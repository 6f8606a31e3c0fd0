#!/usr/bin/env bash
# Install the system libraries mysqlclient builds against (Debian/Ubuntu), if missing.
set -euo pipefail
if command -v pkg-config >/dev/null && pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null; then
  echo "mysqlclient needs pkg-config and the MariaDB/MySQL client headers; install them with your package manager" >&2
  exit 1
fi
echo "installing pkg-config and libmariadb-dev (needed to build mysqlclient)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends pkg-config libmariadb-dev >/dev/null
