"""examples/kubernetes/deployment.yaml cannot run here: it is checked against
the Kubernetes schemas (kubernetes-validate, strict) and read for the choices
docs/kubernetes.md explains."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flask_clustershazbot.masterlist.location import parse_dns_url

# PyYAML comes with kubernetes-validate (a development dependency).
yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubernetes" / "deployment.yaml"


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc]


def of_kind(kind: str, name: str) -> dict[str, Any]:
    return next(doc for doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name)


def container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = of_kind("Deployment", "shazbot")["spec"]["template"]["spec"]["containers"]
    return containers[0]


def env() -> dict[str, Any]:
    return {item["name"]: item for item in container()["env"]}


def test_every_resource_is_valid_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    resources = documents()
    assert {doc["kind"] for doc in resources} == {"Service", "Deployment"}
    for resource in resources:
        kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)


def test_the_srv_name_is_the_one_the_headless_service_publishes_for_every_pod() -> None:
    service = of_kind("Service", "shazbot")["spec"]
    assert service["clusterIP"] == "None"
    assert service["publishNotReadyAddresses"] is True
    port = service["ports"][0]
    master_list = env()["SHAZBOT_MASTER_LIST"]["value"]
    assert master_list == f"dns+srv://_{port['name']}._{port['protocol'].lower()}.shazbot.$(POD_NAMESPACE).svc.cluster.local"
    assert parse_dns_url(master_list.replace("$(POD_NAMESPACE)", "default")).srv
    assert env()["SHAZBOT_DNS_SCHEME"]["value"] == "http"


def test_the_base_url_is_the_name_coredns_gives_the_pod_in_the_srv_records() -> None:
    variables = env()
    assert variables["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    script = container()["args"][0]
    dashed_ip = '$$(echo "$POD_IP" | tr .: --)'  # $$: not expanded by Kubernetes, by the shell
    assert f'SHAZBOT_BASE_URL="http://{dashed_ip}.shazbot.$POD_NAMESPACE.svc.cluster.local:8000"' in script
    assert "exec gunicorn --config python:flask_clustershazbot.gunicorn" in script


def test_secrets_come_from_a_secret_and_the_grace_period_outlasts_the_lame_duck_and_the_goodbye() -> None:
    variables = env()
    for key in ("SHAZBOT_SECRET", "SHAZBOT_CONTROL_SECRET"):
        assert variables[key]["valueFrom"]["secretKeyRef"]["name"] == "shazbot-secrets"
        assert "value" not in variables[key]
    graceful = re.search(r"--graceful-timeout (\d+)", container()["args"][0])
    assert graceful is not None
    needed = float(variables["SHAZBOT_LAME_DUCK"]["value"]) + int(graceful.group(1)) + float(
        variables["SHAZBOT_SHUTDOWN_TIMEOUT"]["value"]
    )
    grace = of_kind("Deployment", "shazbot")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > needed
    probe = container()["readinessProbe"]["httpGet"]
    assert probe["path"] == "/clustershazbot/health"
    assert "httpGet" not in container().get("livenessProbe", {})  # a drained server must not be killed
