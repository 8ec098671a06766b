"""docker-compose.yml, .env.example and the Dockerfile agree with each other and with the code's defaults."""

from __future__ import annotations

import re
import shlex

import luigi.configuration
import pytest
import yaml
from sqlalchemy.engine import make_url

from pipeline import config, report

from tests.support import ROOT

VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    """The variables .env.example defines (KEY=value lines)."""
    pairs = (
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(text: str, variables: dict[str, str]) -> str:
    """What docker compose makes of ${VAR}, ${VAR:-default} and ${VAR:?error} with these variables."""

    def value(match):
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise AssertionError(f"{name} is required: {rest}")
        return rest if kind == "-" else ""

    return VARIABLE.sub(value, text).replace("$$", "$")


def port_mapping(service: dict) -> list[tuple[str, str]]:
    return [tuple(str(p).rsplit(":", 1)) for p in service.get("ports", [])]


def test_every_variable_compose_uses_is_in_env_example_and_env_is_ignored(compose, example):
    used = {m.group(1) for m in VARIABLE.finditer((ROOT / "docker-compose.yml").read_text())}
    assert used and used <= set(example), f"not in .env.example: {sorted(used - set(example))}"
    assert all(example[name] for name in used)
    ignored = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert ".env" in ignored and "!.env" not in ignored, ".env holds the database password: git must ignore it"


def test_database_has_a_health_check_and_a_named_volume(compose, example):
    db = compose["services"]["db"]
    assert db["image"].split(":")[1].startswith("16")
    test = " ".join(db["healthcheck"]["test"])
    assert "pg_isready" in test and db["healthcheck"]["retries"] > 0
    volume, target = db["volumes"][0].split(":")[:2]
    assert target == "/var/lib/postgresql/data" and volume in compose["volumes"]
    env = {k: interpolate(str(v), example) for k, v in db["environment"].items()}
    assert env == {
        "POSTGRES_USER": example["POSTGRES_USER"],
        "POSTGRES_PASSWORD": example["POSTGRES_PASSWORD"],
        "POSTGRES_DB": example["POSTGRES_DB"],
    }
    [(host, container)] = port_mapping(db)
    assert container == "5432" and interpolate(host, example) == example["POSTGRES_PORT"]


def test_luigid_listens_on_the_configured_scheduler_port(compose):
    port = str(luigi.configuration.get_config().getint("core", "scheduler_port", 8082))
    luigid = compose["services"]["luigid"]
    command = luigid["command"]
    assert command[0] == "luigid" and command[command.index("--port") + 1] == port
    assert port_mapping(luigid) == [(port, port)]
    state = command[command.index("--state-path") + 1]
    volume, target = luigid["volumes"][0].split(":")[:2]
    assert state.startswith(target + "/") and volume in compose["volumes"]
    assert port in " ".join(luigid["healthcheck"]["test"])


def test_worker_runs_the_graph_against_db_and_luigid(compose, example):
    worker = compose["services"]["worker"]
    command = worker["command"]
    assert command[:4] == ["luigi", "--module", "pipeline", "Transform"]
    assert command[command.index("--scheduler-host") + 1] == "luigid" and "--local-scheduler" not in command
    assert "--scheduler-port" not in command  # the port comes from luigi.cfg, as luigid's does

    url = make_url(interpolate(worker["environment"]["PIPELINE_DATABASE_URL"], example))
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db",
        5432,
        example["POSTGRES_USER"],
        example["POSTGRES_PASSWORD"],
        example["POSTGRES_DB"],
    )
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["depends_on"]["luigid"]["condition"] == "service_healthy"


def test_image_holds_the_project_where_the_package_looks(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR\s+(\S+)", dockerfile, re.MULTILINE).group(1)
    assert re.search(r"^RUN pip install -e \.", dockerfile, re.MULTILINE)  # in place: PROJECT_ROOT is the WORKDIR
    copied = [shlex.split(line)[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert any("luigi.cfg" in group for group in copied) and any("pipeline" in group for group in copied)
    # The worker's folders are the ones luigi.cfg names, inside the image's project folder.
    mounts = {target: source for source, target, *_ in (v.split(":") for v in compose["services"]["worker"]["volumes"])}
    assert mounts[f"{workdir}/{config.sources().data_dir}"] == "./data"
    assert mounts[f"{workdir}/{report.reports().folder}"] == "./reports"
    for name in ("luigid", "worker"):
        assert compose["services"][name]["build"] == "."
        assert compose["services"][name]["image"] == compose["services"]["luigid"]["image"]
