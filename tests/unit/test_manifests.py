"""CI for the deployment: both overlays rendered by the real kustomize (tests/unit/kustomize.py), every
rendered manifest validated against the Kubernetes schemas (kubernetes-validate, strict: an unknown
field fails) for the oldest and newest versions deploy/README.md promises, the custom resources against
models generated from their CRDs (KEDA ScaledObject and TriggerAuthentication, Prometheus Operator
ServiceMonitor and PrometheusRule), and what ties them together: one autoscaler per Deployment, KEDA's
triggers on the topics and groups the code consumes with the services' Kafka security, ServiceMonitors
on real metrics ports, the PrometheusRule generated from deploy/grafana/alerts.yaml, the database
connections the README asks for. Dashboards and alert queries: test_deploy.py."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from libs.common.events import Topics
from tests.unit.kustomize import K8S, OVERLAYS, REPO, render, render_directory

# deploy/README.md: "validated against the 1.29 and 1.32 schemas"
KUBERNETES_VERSIONS = ("1.29", "1.32")
SCALED_BY_KEDA = {"ingest", "clustering", "reflection"}
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


@cache
def custom_resource_models() -> dict[tuple[str, str], type[BaseModel]]:
    """(apiVersion, kind) -> the model generated from the CRD (cloudcoil-models-*, from PyPI)."""
    from cloudcoil.models.keda import v1alpha1 as keda
    from cloudcoil.models.prometheus_operator import v1 as monitoring

    return {
        ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
        ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
        ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
        ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
    }


def of_kind(kind: str, overlay: str) -> list[dict[str, Any]]:
    return [d for d in render(overlay) if d["kind"] == kind]


def named(kind: str, name: str, overlay: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(kind, overlay) if d["metadata"]["name"] == name]
    return found


def differences(given: Any, understood: Any, path: str = "") -> Iterator[str]:
    """Where the model's reading of a document differs from the document: a field the CRD does not
    know (dropped), or a value of the wrong type (coerced, e.g. "3" read as 3)."""
    if isinstance(given, dict) and isinstance(understood, dict):
        for key, value in given.items():
            if key not in understood:
                yield f"{path}.{key}: not a field of the CRD"
            else:
                yield from differences(value, understood[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(understood, list) and len(given) == len(understood):
        for index, (a, b) in enumerate(zip(given, understood, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
    elif given != understood or type(given) is not type(understood):
        yield f"{path}: {given!r} read as {understood!r}"


def validate_custom_resource(doc: dict[str, Any]) -> list[str]:
    model = custom_resource_models()[(doc["apiVersion"], doc["kind"])]
    understood = model.model_validate(doc).model_dump(by_alias=True, exclude_unset=True, mode="json")
    return list(differences(doc, understood))


def validate_manifest(doc: dict[str, Any], version: str) -> None:
    if (doc["apiVersion"], doc["kind"]) in custom_resource_models():
        problems = validate_custom_resource(doc)
        assert not problems, f"{doc['kind']} {doc['metadata']['name']}: {problems}"
        return
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(p) for p in error.path)
        raise AssertionError(
            f"{doc['kind']} {doc['metadata']['name']} on {version}: {where}: {error.message}"
        ) from None


# -- schemas --------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_manifest_is_valid(overlay: str, version: str) -> None:
    docs = render(overlay)
    assert docs
    for doc in docs:
        validate_manifest(doc, version)


def test_the_custom_resources_are_used_where_expected() -> None:
    kinds = {overlay: {d["kind"] for d in render(overlay)} for overlay in OVERLAYS}
    custom = {kind for _, kind in custom_resource_models()}
    assert custom <= kinds["prod"], "prod uses KEDA and the Prometheus Operator"
    assert not custom & kinds["dev"], "dev needs neither KEDA nor the Prometheus Operator"


def test_the_validation_catches_mistakes() -> None:
    """The checks above could fail: a misspelt field, a wrong type, a missing required field."""
    deployment = dict(named("Deployment", "ingest", "prod"))
    deployment["spec"] = {**deployment["spec"], "replica": 3}
    with pytest.raises(AssertionError, match="replica"):
        validate_manifest(deployment, "1.32")
    scaled = named("ScaledObject", "ingest", "prod")
    misspelt = {**scaled, "spec": {**scaled["spec"], "minReplicas": 3}}
    assert any("minReplicas" in p for p in validate_custom_resource(misspelt))
    as_string = {**scaled, "spec": {**scaled["spec"], "maxReplicaCount": "12"}}
    assert validate_custom_resource(as_string)
    monitor = named("ServiceMonitor", "ingest", "prod")
    wrong_scheme = {
        **monitor,
        "spec": {**monitor["spec"], "endpoints": [{"port": "metrics", "scheme": "gopher"}]},
    }
    with pytest.raises(Exception, match="scheme"):
        validate_custom_resource(wrong_scheme)
    without_target = {**scaled, "spec": {k: v for k, v in scaled["spec"].items() if k != "scaleTargetRef"}}
    with pytest.raises(Exception, match="scaleTargetRef"):
        validate_custom_resource(without_target)


def test_the_cpu_autoscaling_component_renders_and_is_valid(tmp_path: Path) -> None:
    """components/autoscaling-cpu (for clusters without KEDA) is in no overlay of ours: build one."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only
                "resources": [os.path.relpath(K8S / "base", tmp_path)],
                "components": [os.path.relpath(K8S / "components" / "autoscaling-cpu", tmp_path)],
            }
        )
    )
    docs = render_directory(tmp_path)
    for version in KUBERNETES_VERSIONS:
        for doc in docs:
            validate_manifest(doc, version)
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ingest"]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest"
    assert hpa["spec"]["maxReplicas"] <= int(config["data"]["ATELIER_KAFKA_PARTITIONS"])
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]


# -- autoscaling ----------------------------------------------------------------------------------
def autoscaled(overlay: str) -> dict[str, list[str]]:
    """Deployment name -> the autoscalers that act on it."""
    scalers: dict[str, list[str]] = {}
    for hpa in of_kind("HorizontalPodAutoscaler", overlay):
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        scalers.setdefault(hpa["spec"]["scaleTargetRef"]["name"], []).append(f"hpa/{hpa['metadata']['name']}")
    for scaled in of_kind("ScaledObject", overlay):
        assert scaled["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        scalers.setdefault(scaled["spec"]["scaleTargetRef"]["name"], []).append(
            f"keda/{scaled['metadata']['name']}"
        )
    return scalers


def test_one_autoscaler_per_deployment_keda_for_consumers_hpa_for_the_gateway() -> None:
    assert autoscaled("dev") == {}, "dev runs one replica of each, unscaled"
    prod = autoscaled("prod")
    deployments = {d["metadata"]["name"] for d in of_kind("Deployment", "prod")}
    assert set(prod) <= deployments, "an autoscaler on a Deployment that does not exist"
    assert all(len(scalers) == 1 for scalers in prod.values()), f"two autoscalers fight: {prod}"
    assert {name for name, (scaler,) in prod.items() if scaler.startswith("keda/")} == SCALED_BY_KEDA
    assert {name for name, (scaler,) in prod.items() if scaler.startswith("hpa/")} == {"gateway"}


@cache
def consumed_by_code() -> dict[str, set[tuple[str, str]]]:
    """service -> {(topic, group)} from the `runtime.consume(Topics.X, "group", ...)` calls in its app.py."""
    found: dict[str, set[tuple[str, str]]] = {}
    for app in sorted((REPO / "services").glob("*/app.py")):
        for node in ast.walk(ast.parse(app.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "consume"
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Attribute)
                and isinstance(node.args[1], ast.Constant)
            ):
                topic, group = getattr(Topics, node.args[0].attr), node.args[1].value
                assert isinstance(topic, str) and isinstance(group, str)
                found.setdefault(app.parent.name, set()).add((topic, group))
    return found


def test_keda_triggers_watch_what_the_code_consumes_with_its_kafka_settings() -> None:
    consumed = consumed_by_code()
    assert consumed["ingest"] >= {("asset.uploaded", "ingest")}
    config = named("ConfigMap", "atelier-config", "prod")["data"]
    partitions = int(config["ATELIER_KAFKA_PARTITIONS"])
    for scaled in of_kind("ScaledObject", "prod"):
        service = scaled["spec"]["scaleTargetRef"]["name"]
        triggers = scaled["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        watched = {(t["metadata"]["topic"], t["metadata"]["consumerGroup"]) for t in triggers}
        # every topic the service consumes, and nothing else: a new lane without a trigger would never scale
        assert watched == consumed[service], (
            f"{service}: triggers {watched}, code consumes {consumed[service]}"
        )
        deployment = named("Deployment", service, "prod")
        assert scaled["spec"]["minReplicaCount"] == deployment["spec"]["replicas"] >= 1
        assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions
        for trigger in triggers:
            metadata = trigger["metadata"]
            int(metadata["lagThreshold"])
            assert metadata["bootstrapServers"] == config["ATELIER_KAFKA_BOOTSTRAP"]
            assert metadata["sasl"] == KEDA_SASL[config["ATELIER_KAFKA_SASL_MECHANISM"]]
            assert (metadata["tls"] == "enable") == config["ATELIER_KAFKA_SECURITY_PROTOCOL"].endswith("SSL")
            auth = named("TriggerAuthentication", trigger["authenticationRef"]["name"], "prod")
            secret = named("Secret", "atelier-secrets", "prod")["stringData"]
            parameters = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
            assert set(parameters) == {"username", "password"}
            assert parameters["username"]["key"] == "ATELIER_KAFKA_SASL_USERNAME" in secret
            assert parameters["password"]["key"] == "ATELIER_KAFKA_SASL_PASSWORD" in secret
            assert {ref["name"] for ref in parameters.values()} == {"atelier-secrets"}


def test_the_gateway_hpa_fits_its_deployment() -> None:
    hpa = named("HorizontalPodAutoscaler", "gateway", "prod")
    assert hpa["spec"]["minReplicas"] == named("Deployment", "gateway", "prod")["spec"]["replicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    pdb = named("PodDisruptionBudget", "gateway", "prod")
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"], "a drain keeps a gateway serving"


def most_replicas(name: str, overlay: str) -> int:
    for hpa in of_kind("HorizontalPodAutoscaler", overlay):
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            return int(hpa["spec"]["maxReplicas"])
    for scaled in of_kind("ScaledObject", overlay):
        if scaled["spec"]["scaleTargetRef"]["name"] == name:
            return int(scaled["spec"]["maxReplicaCount"])
    return int(named("Deployment", name, overlay)["spec"]["replicas"])


def test_the_readme_asks_for_enough_database_connections() -> None:
    """At every autoscaler's maximum, plus one surge pod per Deployment in a rolling update."""
    config = named("ConfigMap", "atelier-config", "prod")["data"]
    needed = 0
    for deployment in of_kind("Deployment", "prod"):
        name = deployment["metadata"]["name"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        pool = int(env.get("ATELIER_DATABASE_POOL_SIZE") or config["ATELIER_DATABASE_POOL_SIZE"])
        surge = int(deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"])
        needed += (most_replicas(name, "prod") + surge) * pool
    readme = (REPO / "deploy" / "README.md").read_text()
    stated = re.search(r"Set `max_connections` to (\d+) or more", readme)
    assert stated, "deploy/README.md states the max_connections to set"
    assert int(stated.group(1)) >= needed, f"prod can open {needed} connections"


# -- monitoring -----------------------------------------------------------------------------------
def test_service_monitors_scrape_every_service_metrics_port() -> None:
    monitors = of_kind("ServiceMonitor", "prod")
    services = of_kind("Service", "prod")
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment", "prod")}
    assert sorted(m["metadata"]["name"] for m in monitors) == sorted(deployments)
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [
            s for s in services if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        deployment = deployments[monitor["metadata"]["name"]]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items())
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert (
            named_ports[port["targetPort"]]
            == port["port"]
            == int(named("ConfigMap", "atelier-config", "prod")["data"]["ATELIER_METRICS_PORT"])
        )
        # the metrics Service is not the one the Ingress and the other services use
        assert service["metadata"]["name"] != deployment["metadata"]["name"]
    ingress_backends = {
        p["backend"]["service"]["name"]
        for ingress in of_kind("Ingress", "prod")
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert ingress_backends == {"gateway"}


def load_rule_generator() -> Any:
    path = REPO / "deploy" / "grafana" / "prometheus_rule.py"
    spec = importlib.util.spec_from_file_location("prometheus_rule", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_prometheus_rule_is_generated_from_alerts_yaml() -> None:
    generator = load_rule_generator()
    committed = generator.TARGET.read_text()
    assert committed == generator.render(), (
        "deploy/k8s/components/monitoring/prometheusrule.yaml is stale: "
        "run .venv/bin/python deploy/grafana/prometheus_rule.py"
    )
    alerts = yaml.safe_load((REPO / "deploy" / "grafana" / "alerts.yaml").read_text())
    (rule,) = of_kind("PrometheusRule", "prod")
    assert rule["spec"]["groups"] == alerts["groups"]


def test_rule_files_load_with_unique_alerts() -> None:
    for path in [REPO / "deploy" / "grafana" / "alerts.yaml", load_rule_generator().TARGET]:
        document = yaml.safe_load(path.read_text())
        groups = document["groups"] if "groups" in document else document["spec"]["groups"]
        alerts = [r["alert"] for g in groups for r in g["rules"]]
        assert alerts and len(alerts) == len(set(alerts)), path
        for group in groups:
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
                if "for" in rule:
                    assert re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", rule["for"]), rule["for"]


def test_the_readme_overlay_example_renders_as_it_says(tmp_path: Path) -> None:
    """deploy/README.md's "Make an overlay" example, on top of prod: valid, with the operator's image and
    brokers reaching the pods and KEDA's triggers, and no Secret template left to overwrite theirs."""
    readme = (REPO / "deploy" / "README.md").read_text()
    block = re.search(r"```yaml\n( *)# my-overlay/kustomization.yaml\n(.*?)\n\1```", readme, re.S)
    assert block, "the example overlay in deploy/README.md"
    indent = len(block.group(1))
    example = "\n".join(line[indent:] for line in block.group(2).splitlines())
    overlay = tmp_path / "my-overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        example.replace("../deploy/k8s/overlays/prod", os.path.relpath(K8S / "overlays" / "prod", overlay))
    )
    docs = render_directory(overlay)
    for doc in docs:
        validate_manifest(doc, KUBERNETES_VERSIONS[-1])
    assert not [d for d in docs if d["kind"] == "Secret"]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    brokers = config["data"]["ATELIER_KAFKA_BOOTSTRAP"]
    assert "mykafka" in brokers
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    assert len(scaled) == len(SCALED_BY_KEDA)
    assert {t["metadata"]["bootstrapServers"] for s in scaled for t in s["spec"]["triggers"]} == {brokers}
    images = {
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"REGISTRY/atelier:TAG"}
