"""The repository keeps the layout and console scripts that DESIGN.md promises."""

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = {
    "services/proxy": ("llm_proxy", {"llm-proxy"}),
    "services/mock-model": ("mock_model", {"mock-model"}),
    "tui": ("llm_tui", {"llm-tui"}),
    "finetune": ("llm_finetune", {"llm-finetune"}),
}


@pytest.mark.parametrize("path", sorted(PACKAGES))
def test_package_is_src_layout_with_its_console_scripts(path):
    module, scripts = PACKAGES[path]
    project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert set(project["scripts"]) == scripts
    assert (ROOT / path / "src" / module / "__init__.py").is_file()


@pytest.mark.parametrize("path", sorted(PACKAGES))
def test_every_dependency_is_pinned_to_a_major_range(path):
    project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
    for dep in deps:
        spec = dep.split(";")[0]
        assert ">=" in spec and "<" in spec.replace("<=", ""), f"{path}: {dep!r} has no upper bound"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
