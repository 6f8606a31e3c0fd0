"""A private MariaDB server for the benchmark, with a buffer pool of the benchmark's choosing.

The shared server on :3306 keeps its default configuration (128 MB buffer pool) for everyone; the
"buffer pool holds the table" measurement runs against this second ``mariadbd``, started here on
a free port with its own data directory under the benchmark's work directory and removed after.
Everything else is MariaDB's default.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import MySQLdb

from bench.services import free_port


class MariaDbInstance:
    """``mariadbd`` on 127.0.0.1:<free port>, root without a password, data in ``directory``."""

    def __init__(self, directory: Path, buffer_pool_bytes: int, options: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.buffer_pool_bytes = buffer_pool_bytes
        self.options = options
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "password": ""}

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 120.0) -> MariaDbInstance:
        server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if install is None or not Path(server).exists():
            raise RuntimeError("mariadbd / mariadb-install-db not found (apt-get install mariadb-server)")
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        log = self.directory / "mariadbd.log"
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        self._process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--bind-address=127.0.0.1",
                f"--port={self.port}",
                f"--socket={self.directory / 'mariadbd.sock'}",
                f"--pid-file={self.directory / 'mariadbd.pid'}",
                f"--innodb-buffer-pool-size={self.buffer_pool_bytes}",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin",
                f"--log-error={log}",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self._process.returncode}; see {log}")
            try:
                MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", passwd="").close()
                return self
            except MySQLdb.OperationalError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mariadbd did not answer on port {self.port} within {timeout}s; see {log}")

    def create_database(self, name: str) -> None:
        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", passwd="")
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        finally:
            conn.close()

    def settings(self) -> dict[str, Any]:
        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", passwd="")
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT @@version, @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit,"
                    " @@innodb_log_file_size"
                )
                version, pool, flush, redo = cursor.fetchone()
        finally:
            conn.close()
        return {
            "version": version,
            "innodb_buffer_pool_size": int(pool),
            "innodb_flush_log_at_trx_commit": int(flush),
            "innodb_log_file_size": int(redo),
            "port": self.port,
        }

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)
