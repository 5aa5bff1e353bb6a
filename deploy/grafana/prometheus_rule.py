"""Writes deploy/k8s/components/monitoring/prometheusrule.yaml from deploy/grafana/alerts.yaml.

alerts.yaml stays the one source of the alert rules (a plain Prometheus rule file); the Prometheus
Operator wants the same groups wrapped in a PrometheusRule. Run after changing alerts.yaml:
    .venv/bin/python deploy/grafana/prometheus_rule.py
tests/unit/test_manifests.py fails while the committed file differs from what this writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE / "alerts.yaml"
TARGET = HERE.parent / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/grafana/alerts.yaml by deploy/grafana/prometheus_rule.py: do not edit here.
# Edit alerts.yaml, then run `.venv/bin/python deploy/grafana/prometheus_rule.py`.
"""


class _Dumper(yaml.SafeDumper):
    pass


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # multi-line PromQL and descriptions stay readable blocks, as in alerts.yaml
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def prometheus_rule(alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "atelier", "labels": {"app.kubernetes.io/part-of": "atelier"}},
        "spec": {"groups": alerts["groups"]},
    }


def render() -> str:
    alerts = yaml.safe_load(ALERTS.read_text())
    body = yaml.dump(prometheus_rule(alerts), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
