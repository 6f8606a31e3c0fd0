"""docker-compose.yaml without Docker: schema-valid, and consistent with the repository and config."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
COMPOSE_SPEC = Path(__file__).with_name("compose-spec.json")
CONFIG_FILE = REPO / "include" / "config" / "message_export.yaml"
AIRFLOW_DOCKERFILE = "docker/airflow.Dockerfile"

# Config key under `connections:` -> the conn_type its Airflow connection must have.
CONN_TYPES = {"elasticsearch": "elasticsearch", "mysql": "mysql", "aws": "aws"}
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(text: str) -> str:
    """Resolve Compose variables as with an empty environment: defaults apply, ``$$`` is ``$``."""
    return _VARIABLE.sub(lambda match: "$" if match.group(0) == "$$" else (match.group(2) or ""), text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG_FILE.read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: interpolate(str(value)) for name, value in env.items()}


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return interpolate(command if isinstance(command, str) else " ".join(command))


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """Return ``(host path as written, container path)`` for the service's bind mounts."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/", "~")):
            mounts.append((source, target))
    return mounts


def airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run Airflow from this project's image (profile-gated ones excluded)."""
    return {
        name: service
        for name, service in services.items()
        if isinstance(service.get("build"), dict)
        and service["build"].get("dockerfile") == AIRFLOW_DOCKERFILE
        and not service.get("profiles")
    }


def connection(services: dict[str, dict[str, Any]], conn_id: str) -> dict[str, Any]:
    return json.loads(environment(services["airflow-scheduler"])[f"AIRFLOW_CONN_{conn_id.upper()}"])


# -- the file itself -------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads(COMPOSE_SPEC.read_text())
    Draft7Validator.check_schema(schema)
    errors = sorted(Draft7Validator(schema).iter_errors(compose), key=lambda error: list(error.path))

    assert not errors, "\n".join(f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors)


def test_compose_spec_catches_a_broken_service(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-scheduler"]["depends_on"] = 5
    broken["services"]["postgres"]["imagee"] = "postgres:16"

    errors = list(Draft7Validator(json.loads(COMPOSE_SPEC.read_text())).iter_errors(broken))

    assert len(errors) >= 2


def test_bind_mounts_exist_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    mounted = {source: (REPO / source).resolve() for service in services.values() for source, _ in bind_mounts(service)}
    missing = {source: str(path) for source, path in mounted.items() if not path.exists()}

    assert not missing, f"bind-mounted paths missing from the repository: {missing}"
    assert {REPO / "dags", REPO / "plugins", REPO / "include"} <= set(mounted.values())
    assert all(path.is_relative_to(REPO) for path in mounted.values()), mounted


def test_airflow_services_mount_dags_plugins_and_include(services: dict[str, dict[str, Any]]) -> None:
    expected = {"./dags": "/opt/airflow/dags", "./plugins": "/opt/airflow/plugins", "./include": "/opt/airflow/include"}
    airflow = airflow_services(services)

    assert {command_text(service) for service in airflow.values()} >= AIRFLOW_COMMANDS
    for name, service in airflow.items():
        assert dict(bind_mounts(service)).items() >= expected.items(), name


# -- connections and config ------------------------------------------------------------------------


def test_connection_variables_match_the_config_connection_ids(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    conn_ids = config["connections"]
    assert set(conn_ids) == set(CONN_TYPES), "update CONN_TYPES with the config's connections"

    expected = {f"AIRFLOW_CONN_{conn_id.upper()}": CONN_TYPES[key] for key, conn_id in conn_ids.items()}
    for name, service in airflow_services(services).items():
        env = environment(service)
        defined = {variable for variable in env if variable.startswith("AIRFLOW_CONN_")}
        assert defined == set(expected), f"{name}: {sorted(defined)} != {sorted(expected)}"
        for variable, conn_type in expected.items():
            assert json.loads(env[variable])["conn_type"] == conn_type, f"{name}: {variable}"


def test_connections_point_at_the_compose_services(services: dict[str, dict[str, Any]], config: dict[str, Any]) -> None:
    conn_ids = config["connections"]
    es = connection(services, conn_ids["elasticsearch"])
    mysql = connection(services, conn_ids["mysql"])
    aws = connection(services, conn_ids["aws"])
    endpoint = re.fullmatch(r"http://([\w-]+):(\d+)", aws["extra"]["endpoint_url"])

    assert es["host"] in services and es["port"] == 9200
    assert mysql["host"] in services
    assert environment(services[mysql["host"]])["MYSQL_DATABASE"] == mysql["schema"] == "message_export"
    assert endpoint is not None and endpoint.group(1) in services
    assert aws["extra"]["region_name"] == "us-east-1"
    assert (aws["login"], aws["password"]) == ("test", "test")


def test_mysql_init_script_creates_the_connection_user(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    mysql = connection(services, config["connections"]["mysql"])
    init_dir = next(
        REPO / source
        for source, target in bind_mounts(services[mysql["host"]])
        if target == "/docker-entrypoint-initdb.d"
    )
    sql = "\n".join(path.read_text() for path in sorted(init_dir.glob("*.sql")))

    user = re.search(r"CREATE USER .*?'([^']+)'@'%'.*? BY '([^']*)'", sql)
    grant = re.search(r"GRANT ALL PRIVILEGES ON `([^`]+)`\.\* TO '([^']+)'@'%'", sql)
    assert user is not None and grant is not None, sql
    assert (user.group(1), user.group(2)) == (mysql["login"], mysql["password"])
    assert grant.groups() == (mysql["schema"], mysql["login"])


def test_message_export_config_is_the_repository_file_through_a_mount(services: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for name, service in services.items():
        path = environment(service).get("MESSAGE_EXPORT_CONFIG")
        if path is None:
            continue
        in_container = PurePosixPath(path)
        mounts = [
            (source, PurePosixPath(target))
            for source, target in bind_mounts(service)
            if in_container.is_relative_to(PurePosixPath(target))
        ]
        assert mounts, f"{name}: MESSAGE_EXPORT_CONFIG={path} is not under any bind mount"
        source, target = max(mounts, key=lambda mount: len(mount[1].parts))
        on_host = (REPO / source / in_container.relative_to(target)).resolve()
        assert on_host == CONFIG_FILE.resolve(), f"{name}: {path} is {on_host} on the host"
        checked += 1

    assert checked >= len(AIRFLOW_COMMANDS)


def test_init_service_creates_the_configured_bucket(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    creators = {name: service for name, service in services.items() if "create-bucket" in command_text(service)}
    assert len(creators) == 1, sorted(creators)
    [(name, service)] = creators.items()
    env = environment(service)
    command = re.sub(r"\$(\w+)", lambda match: env.get(match.group(1), match.group(0)), command_text(service))
    created = re.search(r"create-bucket --bucket (\S+)", command)

    assert created is not None, command
    assert shlex.split(created.group(1))[0] == config["s3"]["bucket"]
    aws = connection(services, config["connections"]["aws"])
    assert f"--endpoint-url {aws['extra']['endpoint_url']}" in command.replace('"', "")
    for airflow_name, airflow_service in airflow_services(services).items():
        if airflow_name != "airflow-init":
            assert airflow_service["depends_on"][name] == {"condition": "service_completed_successfully"}


# -- image -----------------------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """Return ``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def shell_commands(run: str) -> list[list[str]]:
    """Split a RUN line into its ``&&``-chained commands, each as words."""
    return [shlex.split(command) for command in run.split("&&")]


def test_airflow_image_is_the_pinned_airflow(services: dict[str, dict[str, Any]]) -> None:
    instructions = dockerfile_instructions(REPO / AIRFLOW_DOCKERFILE)
    args = dict(value.split("=", 1) for kind, value in instructions if kind == "ARG" and "=" in value)
    base = next(value for kind, value in instructions if kind == "FROM")
    base = re.sub(r"\$\{(\w+)\}", lambda match: args[match.group(1)], base)
    airflow_pin = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements-dev.txt").read_text(), re.MULTILINE)

    assert airflow_pin is not None
    assert base == f"apache/airflow:{airflow_pin.group(1)}-python3.12"
    for name, service in airflow_services(services).items():
        assert service["build"]["context"] == ".", name


def test_airflow_image_installs_requirements_against_the_constraints() -> None:
    instructions = dockerfile_instructions(REPO / AIRFLOW_DOCKERFILE)
    copied: dict[str, str] = {}  # source in the build context -> path in the image
    for kind, value in instructions:
        if kind == "COPY":
            *sources, destination = [word for word in shlex.split(value) if not word.startswith("--")]
            copied.update({source: str(PurePosixPath(destination) / PurePosixPath(source).name) for source in sources})
    commands = [command for kind, value in instructions if kind == "RUN" for command in shell_commands(value)]
    # requirements.txt minus MWAA's --constraint line (a path that exists only on MWAA) ...
    grep = next(command for command in commands if command[0] == "grep")
    assert grep[1:4] == ["-v", "^--constraint", copied["requirements.txt"]], grep
    assert grep[4] == ">"
    # ... installed with dags/constraints.txt, the same file the --constraint line names.
    pip = next(command for command in commands if command[:2] == ["pip", "install"])
    assert pip[pip.index("-r") + 1] == grep[5], pip
    assert pip[pip.index("-c") + 1] == copied["dags/constraints.txt"], pip
    assert '--constraint "/usr/local/airflow/dags/constraints.txt"' in (REPO / "requirements.txt").read_text()


def test_build_context_sends_the_copied_files() -> None:
    ignore = (REPO / f"{AIRFLOW_DOCKERFILE}.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.lstrip().startswith("#")]

    def sent(path: str) -> bool:
        # Later patterns win; a pattern matching a parent directory covers what is inside it.
        keep = True
        for pattern in patterns:
            bare = pattern.removeprefix("!")
            if fnmatch.fnmatchcase(path, bare) or fnmatch.fnmatchcase(path.split("/")[0], bare):
                keep = pattern.startswith("!")
        return keep

    assert sent("requirements.txt")
    assert sent("dags/constraints.txt")
    assert not sent(".venv/pyvenv.cfg")


# -- startup order ---------------------------------------------------------------------------------


def test_depends_on_conditions_can_be_met(services: dict[str, dict[str, Any]]) -> None:
    checked = 0
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        for dependency, spec in depends_on.items() if isinstance(depends_on, dict) else []:
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert not services[dependency].get("profiles") or service.get("profiles"), f"{name} -> {dependency}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert services[dependency].get("healthcheck", {}).get("test"), (
                    f"{name} -> {dependency}: no healthcheck"
                )
            elif condition == "service_completed_successfully":
                assert services[dependency].get("restart", "no") == "no", f"{name} -> {dependency}: not one-shot"
            checked += 1

    assert checked >= 10


def test_ui_and_init_follow_the_official_layout(services: dict[str, dict[str, Any]]) -> None:
    apiserver = services["airflow-apiserver"]
    init = services["airflow-init"]

    assert command_text(apiserver) == "api-server"
    assert "8080:8080" in apiserver["ports"]
    assert environment(init)["_AIRFLOW_DB_MIGRATE"] == "true"
    assert environment(init)["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "/entrypoint airflow" in command_text(init)
    for name, service in airflow_services(services).items():
        if name != "airflow-init":
            assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}, name


def test_seed_service_is_optional_and_runs_the_sample_data_cli(services: dict[str, dict[str, Any]]) -> None:
    seed = services["seed"]

    assert seed["profiles"] == ["seed"]
    assert seed["entrypoint"][-2:] == ["-m", "devstack.sample_data"]
    assert ("./devstack", "/opt/airflow/devstack") in bind_mounts(seed)
    assert seed["working_dir"] == "/opt/airflow"
    assert seed["depends_on"]["elasticsearch"] == {"condition": "service_healthy"}


def test_opensearch_service_is_optional_and_answers_plain_http(services: dict[str, dict[str, Any]]) -> None:
    opensearch = services["opensearch"]
    env = environment(opensearch)

    assert opensearch["profiles"] == ["opensearch"]
    assert opensearch["image"].startswith("opensearchproject/opensearch:2.")
    assert env["DISABLE_SECURITY_PLUGIN"] == "true" and env["discovery.type"] == "single-node"
    assert "http://localhost:9200/" in command_text({"command": opensearch["healthcheck"]["test"]})
    assert not any("opensearch" in (service.get("depends_on") or {}) for service in airflow_services(services).values())
