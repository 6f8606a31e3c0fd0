"""A real Airflow 3 deployment on this machine: api-server, scheduler, dag-processor and triggerer as
four processes with a PostgreSQL metadata database of their own, and either the LocalExecutor or, as on
MWAA, the CeleryExecutor with a broker, the metadata database as result backend and several Celery workers.

Used by ``make airflow`` (fixed ports, kept between runs) and by the REST-driven tests in
``tests/airflow`` (free ports, thrown away). Every process starts in its own session, writes its output
to ``<logs>/<process>.log`` and is stopped by process group, so nothing it started outlives it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import psutil
import requests

PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
# the metadata database's server: the machine's PostgreSQL (trust authentication for local connections)
POSTGRES_URL = (
    f"postgresql://{os.environ.get('AIRFLOW_PG_USER', 'postgres')}@{os.environ.get('AIRFLOW_PG_HOST', '127.0.0.1')}"
    f":{os.environ.get('AIRFLOW_PG_PORT', '5432')}"
)
RUN_FINISHED = {"success", "failed"}
REPO = Path(__file__).resolve().parents[1]
# each local Celery worker records its own name as a task instance's hostname (see devstack/worker_hostname.py)
WORKER_HOSTNAME_CALLABLE = "devstack.worker_hostname.worker_hostname"


@dataclass(frozen=True)
class CeleryWorkers:
    """The CeleryExecutor's side of a stack, wired as MWAA wires it: a broker, the metadata database as the
    result backend, and ``workers`` Celery workers of ``concurrency`` task slots each, with distinct names."""

    broker_url: str
    workers: int = 2
    concurrency: int = 2
    # the queue the tasks go to; None: one named after the metadata database, so stacks sharing a broker
    # never take each other's tasks
    queue: str | None = None
    # [celery_broker_transport_options], e.g. {"region": ...} for SQS
    transport_options: Mapping[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [f"celery-worker-{number}" for number in range(1, self.workers + 1)]


class AirflowStackError(RuntimeError):
    """The stack did not come up, or a wait ran out; the message names the process log to read."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_admin() -> Any:
    import psycopg2

    connection = psycopg2.connect(f"{POSTGRES_URL}/postgres")
    connection.autocommit = True
    return connection


def ensure_postgres_database(name: str, *, recreate: bool = False) -> str:
    """Create the metadata database ``name`` if missing (drop it first with ``recreate``); return its URL."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"metadata database name {name!r} must be letters, digits and underscores")
    connection = _postgres_admin()
    try:
        with connection.cursor() as cursor:
            if recreate:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return f"{POSTGRES_URL.replace('postgresql://', 'postgresql+psycopg2://', 1)}/{name}"


def drop_postgres_database(name: str) -> None:
    connection = _postgres_admin()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


@dataclass
class AirflowClient:
    """Airflow's public REST API v2, as the UI calls it, with the token of one user."""

    base_url: str
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path if path.startswith('/') else '/' + path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=kwargs.pop("timeout", 90), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url(path), timeout=kwargs.pop("timeout", 90), **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.patch(self.url(path), timeout=kwargs.pop("timeout", 90), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self.url(path), timeout=kwargs.pop("timeout", 90), **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the API and return its JSON answer; raise with the answer's text when it is not 2xx."""
        response = getattr(self, method)(path, **kwargs)
        if not response.ok:
            raise AirflowStackError(f"{method.upper()} {path} -> HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def poll(self, path: str, **kwargs: Any) -> Any:
        """GET for a wait loop: a slow or briefly unreachable api-server (a busy machine) yields ``None``."""
        try:
            return self.json("get", path, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            return None

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        answer = self.json("get", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "id"})
        return list(answer["dag_runs"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """Poll one run until it has finished (success or failed); return the run."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.poll(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}") or run
            if run.get("state") in RUN_FINISHED:
                return run
            time.sleep(1)
        raise AirflowStackError(f"run {run_id} of {dag_id} still {run.get('state')!r} after {timeout:.0f}s")

    def wait_until(self, what: str, probe: Any, timeout: float = 300, interval: float = 1.0) -> Any:
        """Call ``probe()`` until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AirflowStackError(f"gave up waiting {timeout:.0f}s for {what}")
            time.sleep(interval)


class AirflowStack:
    """Airflow's four processes on one machine, with their own metadata database and AIRFLOW_HOME."""

    def __init__(
        self,
        home: Path,
        *,
        dags_folder: Path,
        plugins_folder: Path,
        env: Mapping[str, str] | None = None,
        all_admins: bool = True,
        users: Mapping[str, str] | None = None,
        roles: Mapping[str, str] | None = None,
        teams: Sequence[str] = (),
        port: int | None = None,
        database: str | None = None,
        logs: Path | None = None,
        fast: bool = True,
        celery: CeleryWorkers | None = None,
    ) -> None:
        """
        :param env: extra environment for every process (connections, the export's config path, ...).
        :param all_admins: everybody is an admin without logging in; ``False`` requires a login.
        :param users: ``username -> password`` for the simple auth manager.
        :param roles: ``username -> role`` (``viewer``, ``user``, ``op``, ``admin``), optionally with the
            user's teams after a colon (``viewer:export|audit``); a user not named here is an admin.
        :param teams: teams to create after the metadata database is migrated; with any, the stack runs in
            multi-team mode (pass the DAG bundles' ``team_name`` in ``env``).
        :param database: the PostgreSQL metadata database (kept); ``None`` makes a throw-away one.
        :param fast: short scheduler and DAG-processor intervals, as tests want them.
        :param celery: run the CeleryExecutor with these workers; ``None``: the LocalExecutor.
        """
        self.home = home
        self.dags_folder = dags_folder
        self.plugins_folder = plugins_folder
        self.extra_env = dict(env or {})
        self.all_admins = all_admins
        self.users = dict(users or {"admin": "admin"})
        self.roles = dict(roles or {})
        self.teams = tuple(teams)
        self.port = port or free_port()
        self.throwaway = database is None
        self.database = database or f"airflow_test_{secrets.token_hex(5)}"
        self.logs = logs or home / "logs"
        self.fast = fast
        self.celery = celery
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._worker_log_offsets: dict[str, int] = {}
        # each worker's log server port, kept across a restart of the worker
        self.worker_log_ports: dict[str, int] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "processes.json"

    @property
    def executor(self) -> str:
        return "CeleryExecutor" if self.celery else "LocalExecutor"

    @property
    def worker_names(self) -> list[str]:
        return self.celery.names() if self.celery else []

    @cached_property
    def queue(self) -> str:
        """The Celery queue of this stack's tasks."""
        return (self.celery.queue if self.celery else None) or f"airflow-{self.database}"

    def environment(self) -> dict[str, str]:
        """The environment all of the stack's processes share."""
        jwt_secret = self._stable_secret("jwt_secret")
        metadata_database = ensure_postgres_database(self.database)
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(self.all_admins),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{user}:{self.roles.get(user, 'admin')}" for user in self.users
            ),
            "AIRFLOW__CORE__MULTI_TEAM": str(bool(self.teams)),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_database,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._stable_secret("secret_key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
            # one api-server worker on a small, busy machine: give task start-up calls time rather than
            # failing an attempt before the task's own code ran
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(self.logs / "dag-processor"),
        }
        if self.fast:
            settings |= {
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            }
        if self.celery:
            settings |= {
                "AIRFLOW__CELERY__BROKER_URL": self.celery.broker_url,
                # MWAA's result backend: the metadata database
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_database}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.celery.concurrency),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            }
            settings |= {
                f"AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__{key.upper()}": value
                for key, value in self.celery.transport_options.items()
            }
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        env.update(settings)
        env.update(self.extra_env)
        return env

    def _stable_secret(self, name: str) -> str:
        """A random secret kept in AIRFLOW_HOME, so a restarted stack accepts the tokens it issued."""
        path = self.home / f".{name}"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 240) -> Self:
        """Migrate the metadata database, start the four processes (and the Celery workers) and wait until the
        API answers and every worker is ready."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps(self.users) + "\n")
        env = self.environment()
        migrate_log = self.logs / "db-migrate.log"
        with migrate_log.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if result.returncode:
            raise AirflowStackError(f"airflow db migrate failed; see {migrate_log}")
        self._create_teams(env)
        try:
            for name in PROCESSES:
                self._spawn(name, env)
            for name in self.worker_names:
                self._spawn_worker(name, env)
            self._write_pid_file()
            self._wait_for_health(timeout)
            for name in self.worker_names:
                self.wait_for_worker(name, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _create_teams(self, env: Mapping[str, str]) -> None:
        for team in self.teams:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "teams", "create", team],
                env=dict(env),
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            if result.returncode and "already exists" not in result.stdout + result.stderr:
                raise AirflowStackError(
                    f"airflow teams create {team} failed: {result.stdout[-500:]}{result.stderr[-500:]}"
                )

    def _spawn(self, name: str, env: Mapping[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self._command(name)],
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    def _spawn_worker(self, name: str, env: Mapping[str, str]) -> None:
        """One Celery worker, as a container of MWAA's runs it: its own Celery hostname, its own recorded task
        hostname, and (on a shared machine) its own log server port."""
        if self.celery is None:
            raise AirflowStackError(f"no Celery worker {name!r}: this stack runs the {self.executor}")
        port = self.worker_log_ports.setdefault(name, free_port())
        worker_env = dict(env) | {
            "AIRFLOW_LOCAL_WORKER_HOSTNAME": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": WORKER_HOSTNAME_CALLABLE,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
        self._spawn(name, worker_env)

    def _command(self, name: str) -> list[str]:
        """The ``airflow`` subcommand that runs the process ``name``."""
        if self.celery is None or name not in self.worker_names:
            return [name]
        command = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", self.queue]
        return [*command, "--concurrency", str(self.celery.concurrency), "--without-mingle", "--without-gossip"]

    def wait_for_worker(self, name: str, timeout: float = 120) -> None:
        """Wait until the worker ``name`` says it is ready to take tasks (Celery's "ready." line in its log)."""
        log = self.logs / f"{name}.log"
        offset = self._worker_log_offsets.get(name, 0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise AirflowStackError(f"Celery worker {name} exited with code {proc.returncode}; see {log}")
            with log.open("rb") as output:
                output.seek(offset)
                if b" ready." in output.read():
                    return
            time.sleep(0.5)
        raise AirflowStackError(f"Celery worker {name} not ready after {timeout:.0f}s; see {log}")

    def start_worker(self, name: str, timeout: float = 120) -> None:
        """(Re)start the Celery worker ``name``, as a replacement container starts, and wait until it is ready."""
        log = self.logs / f"{name}.log"
        self._worker_log_offsets[name] = log.stat().st_size if log.exists() else 0
        self._spawn_worker(name, self.environment())
        self._write_pid_file()
        self.wait_for_worker(name, timeout)

    def signal_worker(self, name: str, signum: int, *, whole_container: bool) -> list[int]:
        """Send ``signum`` to the Celery worker ``name``: to its main process only (a container being stopped),
        or to every process it runs (a container that dies): its pool, and the task processes, which Airflow's
        supervisor puts in process groups of their own. Return the process ids signalled."""
        main = psutil.Process(self.processes[name].pid)
        targets = [main, *main.children(recursive=True)] if whole_container else [main]
        signalled = []
        for process in targets:
            try:
                process.send_signal(signum)
                signalled.append(process.pid)
            except psutil.NoSuchProcess:
                continue
        return signalled

    def stop_worker(self, name: str, timeout: float = 120) -> int:
        """Stop the Celery worker ``name`` as a container is stopped (SIGTERM: Celery's warm shutdown lets its
        running tasks finish) and forget it; return its exit code."""
        self.signal_worker(name, signal.SIGTERM, whole_container=False)
        code = self.wait_for_exit(name, timeout)
        del self.processes[name]
        self._write_pid_file()
        return code

    def worker_of(self, pid: int) -> str | None:
        """The Celery worker whose process tree holds ``pid`` (a task process, say), if any."""
        mains = {proc.pid: name for name, proc in self.processes.items() if name in self.worker_names}
        try:
            process = psutil.Process(pid)
            lineage = [process, *process.parents()]
        except psutil.NoSuchProcess:
            return None
        return next((mains[p.pid] for p in lineage if p.pid in mains), None)

    def wait_for_exit(self, name: str, timeout: float) -> int:
        """Wait for the process ``name`` to exit and for its process group to be gone; return its exit code."""
        proc = self.processes[name]
        code = proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        return code

    def _worker_descendants(self) -> list[psutil.Process]:
        found = []
        for name in self.worker_names:
            proc = self.processes.get(name)
            if proc is None or proc.poll() is not None:
                continue
            try:
                found += psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
        return found

    def _write_pid_file(self) -> None:
        self.pid_file.write_text(json.dumps({name: proc.pid for name, proc in self.processes.items()}))

    def _wait_for_health(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    log = self.logs / f"{name}.log"
                    tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log.exists() else []
                    raise AirflowStackError(
                        f"airflow {name} exited with code {proc.returncode} during start-up; see {log}; it ended:\n"
                        + "\n".join(tail)
                    )
            try:
                health = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                if health.ok and health.json().get("scheduler", {}).get("status") == "healthy":
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise AirflowStackError(f"Airflow was not healthy after {timeout:.0f}s; see the logs in {self.logs}")

    def stop(self, grace: float = 20) -> None:
        """Stop exactly the processes this stack started (their whole process groups, and the task processes of
        the Celery workers, which sit in groups of their own)."""
        task_processes = self._worker_descendants()
        stop_process_groups({name: proc.pid for name, proc in self.processes.items()}, grace)
        for process in task_processes:
            try:
                process.kill()
            except psutil.NoSuchProcess:  # gone with its worker, as it should be
                continue
        for proc in self.processes.values():
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()
        self.pid_file.unlink(missing_ok=True)
        if self.throwaway:
            drop_postgres_database(self.database)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- talking to it ------------------------------------------------------------------------

    def password_of(self, username: str) -> str:
        return self.users[username]

    def client(self, username: str | None = None, password: str | None = None) -> AirflowClient:
        """A REST client; with a username it logs in (``POST /auth/token``) and sends the token."""
        if username is None:
            if self.all_admins:
                return AirflowClient(self.base_url)
            username = next(iter(self.users))
        password = password if password is not None else self.users[username]
        answer = requests.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        if not answer.ok:
            raise AirflowStackError(f"login as {username!r} failed: HTTP {answer.status_code} {answer.text[:500]}")
        return AirflowClient(self.base_url, token=answer.json()["access_token"])

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id`` and the API shows it (without import errors)."""
        client = self.client()

        def parsed() -> dict[str, Any] | None:
            errors = client.json("get", "/api/v2/importErrors")
            if errors["total_entries"]:
                raise AirflowStackError(f"DAG import errors: {json.dumps(errors['import_errors'])[:3000]}")
            answer = client.get(f"/api/v2/dags/{dag_id}")
            return answer.json() if answer.ok else None

        return client.wait_until(f"DAG {dag_id} to be parsed", parsed, timeout=timeout)


def stop_process_groups(pids: Mapping[str, int], grace: float = 20) -> list[str]:
    """SIGTERM each process group, then SIGKILL what is left after ``grace`` seconds; return the names stopped."""
    stopped = []
    for name, pid in pids.items():
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + grace
    for pid in pids.values():
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return stopped


def _group_alive(pgid: int) -> bool:
    try:
        os.waitpid(pgid, os.WNOHANG)  # reap the group leader if it is our child, so it is not a zombie member
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
