"""The repository keeps the layout and console scripts that docs/architecture.md promises, and its
scripts where a reader looks for them."""

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = {
    "services/common": ("llm_common", set()),
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
    assert set(project.get("scripts", {})) == scripts
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
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert ci.index("make lint") < ci.index("make test"), "CI runs the static checks before the tests"
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


# Scripts live in one place per package: the repository's own tasks in scripts/ (CI's in
# scripts/ci/), a package's in <package>/scripts/, the benchmarks in bench/. Each is named for
# what it does and named where it is used (the Makefile, .ci/run, or the docs), so none hides.
SCRIPT_PLACES = ("scripts", "tui/scripts", "finetune/scripts", "bench")
WHERE_USED = ("Makefile", ".ci/run", "README.md", "docs/*.md", "charts/*/README.md")


def _runnable_scripts() -> list[str]:
    found = []
    for place in SCRIPT_PLACES:
        for path in sorted((ROOT / place).rglob("*")):
            if path.suffix == ".sh" or (path.suffix == ".py" and 'if __name__ == "__main__":' in path.read_text()):
                found.append(path.relative_to(ROOT).as_posix())
    return found


def test_scripts_are_only_in_their_places():
    folders = [
        found.relative_to(ROOT).as_posix()
        for top in ROOT.iterdir()
        if top.is_dir() and not top.name.startswith(".")  # not .venv, .git, caches
        for found in [top, *top.rglob("scripts")]
        if found.name == "scripts" and found.is_dir()
    ]
    assert sorted(folders) == sorted(p for p in SCRIPT_PLACES if p != "bench")


@pytest.mark.parametrize("script", _runnable_scripts())
def test_every_script_is_named_where_it_is_used(script):
    texts = [path.read_text() for pattern in WHERE_USED for path in ROOT.glob(pattern)]
    assert any(script in text for text in texts), f"{script} is named in none of {', '.join(WHERE_USED)}"
