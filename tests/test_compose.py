"""``docker/compose.yaml`` agrees with the code: variable names, service hosts and ports, subcommands, the image.

No Docker engine is needed: the file is read as YAML and checked. Each check returns the problems it finds, so
the same checks also run on deliberately broken copies, proving that a typo would be caught.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from detector.cli import SUBCOMMANDS
from detector.settings import Settings, env_variable_names
from detector.stack import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as strings, as the container sees it (compose also allows the list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: str(value) for key, value in env.items()}


def kafka_listeners(env: dict[str, str], key: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> ``{NAME: (host, port)}``."""
    found = {}
    for item in env.get(key, "").split(","):
        match = re.fullmatch(r"(\w+)://([^:]*):(\d+)", item.strip())
        if match:
            found[match.group(1)] = (match.group(2), int(match.group(3)))
    return found


def redis_port(service: dict[str, Any]) -> int:
    command = service.get("command") or []
    return int(command[command.index("--port") + 1]) if "--port" in command else 6379


def variable_problems(compose: dict[str, Any], name: str) -> list[str]:
    env = environment(compose["services"][name])
    known = set(env_variable_names())
    problems = [f"{key} is not a setting" for key in env if key.startswith("DETECTOR_") and key not in known]
    try:
        Settings.from_env(env)
    except ValueError as error:
        problems.append(f"settings do not parse: {error}")
    return problems


def kafka_problems(compose: dict[str, Any], name: str) -> list[str]:
    services = compose["services"]
    bootstrap = environment(services[name]).get("DETECTOR_KAFKA_BOOTSTRAP")
    if bootstrap is None:
        return []
    problems = []
    for address in bootstrap.split(","):
        host, _, port = address.rpartition(":")
        broker = services.get(host)
        if broker is None or not str(broker.get("image", "")).startswith("apache/kafka:"):
            problems.append(f"{address}: {host!r} is not a Kafka service")
            continue
        broker_env = environment(broker)
        advertised = kafka_listeners(broker_env, "KAFKA_ADVERTISED_LISTENERS")
        listener = next((n for n, hp in advertised.items() if hp == (host, int(port))), None)
        if listener is None:
            problems.append(f"{address} is not among {host}'s advertised listeners {advertised}")
        elif listener not in kafka_listeners(broker_env, "KAFKA_LISTENERS"):
            problems.append(f"{host} advertises {listener} but does not listen on it")
        if host not in (services[name].get("depends_on") or {}):
            problems.append(f"{name} does not depend on {host}")
    return problems


def redis_problems(compose: dict[str, Any], name: str) -> list[str]:
    services = compose["services"]
    url = environment(services[name]).get("DETECTOR_REDIS_URL")
    if url is None:
        return []
    parts = urlsplit(url)
    server = services.get(parts.hostname or "")
    if parts.scheme != "redis" or server is None or not str(server.get("image", "")).startswith("redis:"):
        return [f"{url}: {parts.hostname!r} is not a Redis service"]
    problems = []
    if parts.port != redis_port(server):
        problems.append(f"{url}: {parts.hostname} listens on {redis_port(server)}")
    if parts.hostname not in (services[name].get("depends_on") or {}):
        problems.append(f"{name} does not depend on {parts.hostname}")
    return problems


def command_problems(compose: dict[str, Any], name: str) -> list[str]:
    service = compose["services"][name]
    if "build" not in service:
        return []
    command = service.get("command") or []
    if command[:1] != ["detector"] or len(command) < 2:
        return [f"{name} runs {command}, not a detector subcommand"]
    if command[1] not in SUBCOMMANDS:
        return [f"{name} runs `detector {command[1]}`, which detector.cli does not have"]
    build = service["build"]
    dockerfile = (DOCKER / build["context"] / build["dockerfile"]).resolve()
    return [] if dockerfile == DOCKER / "Dockerfile" else [f"{name} is built from {dockerfile}"]


def web_problems(compose: dict[str, Any], name: str) -> list[str]:
    """The review UI listens on all interfaces on the published port; case links point at that port."""
    services = compose["services"]
    service = services[name]
    if (service.get("command") or [])[1:2] != ["web"]:
        return []
    env = environment(service)
    settings = Settings.from_env(env)
    problems = [] if settings.web_host == "0.0.0.0" else [f"{name} listens on {settings.web_host} only"]
    published = {int(c): int(h) for h, _, c in (str(p).rpartition(":") for p in service.get("ports") or [])}
    if settings.web_port not in published:
        return [*problems, f"{name} listens on {settings.web_port}, which is not published"]
    for other, other_service in services.items():
        base = urlsplit(Settings.from_env(environment(other_service)).case_base_url)
        if "DETECTOR_CASE_BASE_URL" in environment(other_service) and base.port != published[settings.web_port]:
            problems.append(f"{other}'s case links go to port {base.port}, not the review UI")
    return problems


CHECKS = [variable_problems, kafka_problems, redis_problems, command_problems, web_problems]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_agrees_with_the_code(service: str, check):
    assert check(COMPOSE, service) == []


def break_variable(compose: dict[str, Any]) -> str:
    env = compose["services"]["worker"]["environment"]
    env["DETECTOR_KAFKA_BOOTSTAP"] = env.pop("DETECTOR_KAFKA_BOOTSTRAP")
    return "worker"


def break_kafka_port(compose: dict[str, Any]) -> str:
    compose["services"]["worker"]["environment"]["DETECTOR_KAFKA_BOOTSTRAP"] = "kafka:9093"
    return "worker"


def break_kafka_host(compose: dict[str, Any]) -> str:
    compose["services"]["worker"]["environment"]["DETECTOR_KAFKA_BOOTSTRAP"] = "broker:9092"
    return "worker"


def break_redis_port(compose: dict[str, Any]) -> str:
    compose["services"]["redis"]["command"] = ["redis-server", "--port", "6380"]
    return "worker"


def break_dependency(compose: dict[str, Any]) -> str:
    del compose["services"]["worker"]["depends_on"]["redis"]
    return "worker"


def break_subcommand(compose: dict[str, Any]) -> str:
    compose["services"]["worker"]["command"] = ["detector", "wroker"]
    return "worker"


def break_setting_type(compose: dict[str, Any]) -> str:
    compose["services"]["review-ui"]["environment"]["DETECTOR_WEB_PORT"] = "eighty"
    return "review-ui"


def break_web_port(compose: dict[str, Any]) -> str:
    compose["services"]["review-ui"]["ports"] = ["8081:8081"]
    return "review-ui"


@pytest.mark.parametrize(
    "breakage",
    [break_variable, break_kafka_port, break_kafka_host, break_redis_port, break_dependency, break_subcommand,
     break_setting_type, break_web_port],
    ids=lambda breakage: breakage.__name__,
)  # fmt: skip
def test_the_checks_catch_a_broken_compose_file(breakage):
    # safe_load resolved the anchors into shared objects; a deep copy breaks one service, not all of them.
    broken = copy.deepcopy(COMPOSE)
    for name in broken["services"]:
        broken["services"][name] = copy.deepcopy(broken["services"][name])
    service = breakage(broken)
    assert any(check(broken, service) for check in CHECKS)


def test_the_kafka_image_is_the_version_the_local_stack_runs():
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = environment(SERVICES["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, "single-node KRaft"
    controller = kafka_listeners(env, "KAFKA_LISTENERS")[env["KAFKA_CONTROLLER_LISTENER_NAMES"]]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:{controller[1]}"


def test_the_image_gets_every_file_the_package_needs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = {"pyproject.toml", pyproject["project"]["readme"], *packages}
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :].count("*") == 1, "everything is excluded first"
    assert needed <= {line[1:] for line in ignore if line.startswith("!")}
    assert {"**/target", "**/*.so"} <= set(ignore), "local Rust builds stay out of the image's context"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    # The compiled engine part is built in the image, with cargo, from sources the context holds.
    for extension in pyproject["tool"]["setuptools-rust"]["ext-modules"]:
        assert Path(extension["path"]).parts[0] in packages and (ROOT / extension["path"]).is_file()
    assert "sh.rustup.rs" in dockerfile and "pip wheel" in dockerfile
    variables = re.findall(r"\b(DETECTOR_\w+)=", dockerfile)
    assert variables and set(variables) <= set(env_variable_names())
    assert re.search(r'^CMD \["detector", "(\w+)"\]', dockerfile, re.M).group(1) in SUBCOMMANDS
