"""checkov on the rendered chart: 0 failed checks, and every skip carries a reason in the chart.

The chart is rendered first with the real Helm engine (a chart that fails to render would scan as
0 resources with exit 0), for the default values, every k8s/*/values.yaml and a variant with every
optional part on, each under its own release name so the resources stay distinct in one scan.
checkov lives in its own venv (`make checkov-venv`): its pinned dependencies clash with ours.
"""

import json
import subprocess

import pytest
import yaml

from .conftest import ENVIRONMENTS, ROOT, load_values, render

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
ALL_ON = {"metrics": {"serviceMonitor": {"enabled": True, "force": True}, "dashboard": {"enabled": True}}}


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov-venv` (make test does it)")
    texts = []
    variants = {name: load_values(name) for name in ENVIRONMENTS} | {"all-on": ALL_ON}
    for name, values in variants.items():
        rendered = render(values, release=f"ck-{name}")
        texts += [text for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt") and text.strip()]
    target = tmp_path_factory.mktemp("checkov") / "rendered.yaml"
    target.write_text("\n---\n".join(texts))
    proc = subprocess.run(
        [str(CHECKOV), "-f", str(target), "--framework", "kubernetes", "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    # One framework gives one report object; some versions wrap it in a list.
    report = next(r for r in report if r.get("check_type") == "kubernetes") if isinstance(report, list) else report
    return target, report


def test_checkov_scans_every_rendered_object_and_finds_nothing(scan):
    target, report = scan
    documents = [d for d in yaml.safe_load_all(target.read_text()) if d]
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(documents) // 2 > 0  # checkov skips kinds it has no checks for
    assert summary["passed"] > 100
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert summary["failed"] == 0


def test_every_skip_is_a_justified_annotation_in_the_chart(scan):
    target, report = scan
    annotated = 0
    for doc in (d for d in yaml.safe_load_all(target.read_text()) if d):
        for key, value in (doc["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check_id, _, reason = value.partition("=")
                assert check_id.startswith(("CKV_K8S_", "CKV2_K8S_")), f"{doc['kind']}: bad skip {value!r}"
                assert len(reason.split()) >= 4, f"{doc['kind']} {doc['metadata']['name']}: {check_id} has no reason"
                annotated += 1
    # checkov counts one skip per annotated check and resource: nothing is skipped any other way.
    assert report["summary"]["skipped"] == annotated
