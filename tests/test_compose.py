"""docker-compose.yml is valid against the Compose specification and wires the platform up:
every service there, health checks, volumes, replicas that can scale, the GPU reservation, and
every command of the app image one that our CLI accepts.

No Docker engine runs on our machines, so `docker compose config` cannot be the check; the
Compose specification's schema (as Pydantic models), these assertions and, for the proxy's
configuration, Caddy itself (tests/test_proxy.py) are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from compose_pydantic import ComposeSpecification
from typer._click.core import Command
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from app.cli import app as cli_app

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"
APP_IMAGE = "miscomp:latest"
SCALED = ("web", "worker-cpu", "worker-gpu")
"""Services run as several replicas (`--scale NAME=N`)."""
ONE_SHOT = ("migrate", "minio-init")
NO_HEALTH_CHECK = {"sweep": "it answers no request; Docker restarts it when it exits"}


def _load() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


SERVICES: dict[str, Any] = _load()["services"]
APP_SERVICES = sorted(name for name, s in SERVICES.items() if s.get("image") == APP_IMAGE)


def test_compose_file_follows_the_specification() -> None:
    # The specification allows top-level "x-" extension keys (our YAML anchors live there);
    # the Pydantic bindings do not model that pattern, so they are left out of validation.
    data = {k: v for k, v in _load().items() if not k.startswith("x-")}
    ComposeSpecification.model_validate(data)


def test_every_part_of_the_platform_is_a_service() -> None:
    assert set(SERVICES) == {
        "postgres", "redis", "minio", "minio-init", "migrate", "web", "proxy",
        "worker-cpu", "worker-gpu", "sweep", "flower",
    }  # fmt: skip
    assert APP_SERVICES == ["migrate", "sweep", "web", "worker-cpu", "worker-gpu"]


def test_long_running_services_have_health_checks_and_one_shots_do_not_restart() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
        elif name not in NO_HEALTH_CHECK:
            assert service["healthcheck"]["test"], name
            assert service["restart"] == "unless-stopped", name


def test_dependencies_wait_for_health_or_completion() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, (name, dependency)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], (name, dependency)
            else:
                assert rule["condition"] == "service_completed_successfully", (name, rule)
                assert dependency in ONE_SHOT, (name, dependency)
    for name in APP_SERVICES:
        if name == "migrate":
            assert SERVICES[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
            continue
        assert SERVICES[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
            "minio-init": {"condition": "service_completed_successfully"},
        }, name
    assert SERVICES["proxy"]["depends_on"] == {"web": {"condition": "service_healthy"}}


def test_state_lives_in_named_volumes_and_media_in_object_storage() -> None:
    declared = set(_load()["volumes"])
    mounts = {
        name: {volume.split(":")[0]: volume.split(":")[1] for volume in s.get("volumes", [])}
        for name, s in SERVICES.items()
    }
    assert mounts["postgres"]["pgdata"] == "/var/lib/postgresql/data"
    assert mounts["redis"]["redisdata"] == "/data"
    assert mounts["minio"]["miniodata"] == "/data"
    used = {source for m in mounts.values() for source in m if not source.startswith(".")}
    assert used == declared
    for name in APP_SERVICES:
        environment = SERVICES[name]["environment"]
        assert environment["MISCOMP_MEDIA_URL"].startswith("s3://"), name
        assert environment["MISCOMP_S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert "MISCOMP_MEDIA_ROOT" not in environment, name
        assert set(mounts[name]) == {"weights"}, name  # no shared media volume
    bucket = environment["MISCOMP_MEDIA_URL"].removeprefix("s3://").split("/")[0]
    assert f"store/{bucket}" in SERVICES["minio-init"]["command"][0]
    assert "./deploy/Caddyfile" in mounts["proxy"]
    assert (COMPOSE.parent / "deploy" / "Caddyfile").is_file()


@pytest.mark.parametrize("name", SCALED)
def test_scaled_services_can_have_replicas(name: str) -> None:
    """`--scale NAME=N` fails on a fixed container name or a fixed host port."""
    service = SERVICES[name]
    assert "container_name" not in service
    assert "ports" not in service
    assert "hostname" not in service


def test_only_the_proxy_and_flower_publish_ports() -> None:
    published = {name for name, service in SERVICES.items() if "ports" in service}
    assert published == {"proxy", "flower"}
    assert SERVICES["web"]["expose"] == ["8000"]
    assert SERVICES["web"]["deploy"]["replicas"] >= 2
    assert SERVICES["web"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert all(port.startswith("127.0.0.1:") for port in SERVICES["flower"]["ports"])


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_gpu_worker_reserves_one_gpu_and_consumes_only_the_gpu_queue() -> None:
    worker = SERVICES["worker-gpu"]
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    assert worker["environment"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert _option(worker["command"], "--queues") == "gpu"
    assert _option(worker["command"], "--concurrency") == "1"
    cpu = SERVICES["worker-cpu"]["command"]
    assert set(_option(cpu, "--queues").split(",")) == {"cpu", "post"}


def test_flower_watches_the_platforms_broker() -> None:
    command = SERVICES["flower"]["command"]
    broker = SERVICES["web"]["environment"]["MISCOMP_BROKER_URL"]
    assert f"--broker={broker}" in command and "flower" in command
    assert any(part.startswith("--basic-auth=") for part in command)


def _resolve(args: list[str]) -> Command:
    """Parse ``args`` as the `miscomp` command line does, without running anything: an
    unknown command, option or a value of the wrong type raises UsageError (Typer carries
    its own copy of Click, hence the private imports)."""
    command = typer.main.get_command(cli_app)
    context = command.make_context("miscomp", list(args))
    while isinstance(command, TyperGroup):
        rest = [*context._protected_args, *context.args]
        name, command_or_none, rest = command.resolve_command(context, rest)
        assert command_or_none is not None and name is not None
        command = command_or_none
        context = command.make_context(name, rest, parent=context)
    return command


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_app_image_runs_only_commands_of_our_cli(name: str) -> None:
    command = SERVICES[name]["command"]
    assert command[0] == "miscomp"
    assert _resolve(command[1:]).callback is not None


def test_a_made_up_command_or_option_is_refused_by_the_check() -> None:
    """The check above parses for real: it refuses what the CLI would refuse."""
    assert _resolve(["worker", "--queues", "gpu", "--concurrency", "1"]).name == "worker"
    for wrong in (["wrker"], ["worker", "--queue", "gpu"], ["worker", "--concurrency", "x"]):
        with pytest.raises(UsageError):
            _resolve(wrong)
