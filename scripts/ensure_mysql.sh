#!/usr/bin/env bash
# Make sure a MariaDB/MySQL server answers on $MYSQL_TEST_HOST:$MYSQL_TEST_PORT (default 127.0.0.1:3306);
# start the local MariaDB if it is installed but not running.
set -euo pipefail
HOST="${MYSQL_TEST_HOST:-127.0.0.1}"
PORT="${MYSQL_TEST_PORT:-3306}"
. "$(dirname "$0")/port_wait.sh"
if port_up "$HOST" "$PORT"; then exit 0; fi
if [ -x /usr/sbin/mariadbd ]; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
elif command -v mysqld >/dev/null; then
  echo "starting mysqld"
  mysqld --user=mysql --daemonize >/dev/null
else
  echo "no MySQL/MariaDB server on $HOST:$PORT and none installed; start one or set MYSQL_TEST_HOST/PORT" >&2
  exit 1
fi
wait_for_port "MySQL/MariaDB" "$HOST" "$PORT"
