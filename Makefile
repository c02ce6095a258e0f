# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYPROJECTS := services/common/pyproject.toml services/proxy/pyproject.toml services/mock-model/pyproject.toml \
              tui/pyproject.toml finetune/pyproject.toml tests/requirements.txt

PYTEST_ARGS ?=

.PHONY: install run test test-fast lint docs format clean help knowledge bench checkov-venv newman images chart-test

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python $(PYPROJECTS)
	$(BIN)/pip install --quiet \
		-e services/common -e 'services/proxy[test]' -e 'services/mock-model[test]' \
		-e 'tui[test]' -e 'finetune[test]' -r tests/requirements.txt
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the four packages (editable) with test extras

run: install  ## start mock-model (:5050) and the proxy (:8000) in the foreground; Ctrl-C stops both
	$(BIN)/python scripts/run_local.py

test: install checkov-venv newman  ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install  ## only the tests marked unit: pure and quick (settings, routing, retry rules, SSE...), seconds
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

# The packages whose mypy configuration (in their pyproject.toml) `make lint` applies.
MYPY_PACKAGES := services/common services/proxy services/mock-model tui finetune

lint: install  ## ruff (lint + format check, one rule set: ruff.toml) and mypy over the four packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@set -e; for pkg in $(MYPY_PACKAGES); do echo "mypy $$pkg"; (cd $$pkg && $(CURDIR)/$(BIN)/mypy); done

docs: install  ## regenerate the generated docs: docs/configuration.md, the chart README's values table, docs/tui.svg
	$(BIN)/python scripts/generate_configuration_doc.py
	$(BIN)/python scripts/generate_chart_values_table.py --write
	$(BIN)/python tui/scripts/generate_docs_screenshot.py

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# checkov pins its own dependency versions, which clash with the project's: it gets its own venv.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'

checkov-venv: $(CHECKOV_VENV)/bin/checkov  ## install checkov into .venv-checkov (used by tests/chart)

# Postman's own runner, from npm, in a folder of its own (tests/e2e/test_newman.py runs the collection with it).
NEWMAN_VERSION := 6.2.2
NEWMAN_DIR := .newman
$(NEWMAN_DIR)/node_modules/.bin/newman:
	@command -v npm >/dev/null || { echo "newman needs npm (Node.js): apt-get install npm" >&2; exit 1; }
	npm install --prefix $(NEWMAN_DIR) --no-audit --no-fund --loglevel=error newman@$(NEWMAN_VERSION)

newman: $(NEWMAN_DIR)/node_modules/.bin/newman  ## install newman (Postman's CLI runner) into .newman (used by tests/e2e)

chart-test: install checkov-venv  ## render, lint, validate and scan the Helm chart; check skaffold.yaml
	$(BIN)/python -m pytest tests/chart $(PYTEST_ARGS)

BASE_IMAGE ?= python:3.11-slim
ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
images:  ## build llm-proxy:dev and mock-model:dev (ENGINE=podman|docker, BASE_IMAGE=...)
	$(ENGINE) build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t llm-proxy:dev -f services/proxy/Dockerfile services
	$(ENGINE) build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t mock-model:dev -f services/mock-model/Dockerfile services

knowledge: install  ## rebuild the knowledge pack (and its packaged copies) from finetune/data/candidate.xlsx
	$(BIN)/llm-finetune pack finetune/data/candidate.xlsx -o finetune/data/knowledge.json --packaged

bench: install  ## benchmark proxy vs direct-to-mock (BENCH_ARGS="--streams 512 --soak 600 --litellm")
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || \
		{ echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
	@command -v redis-server >/dev/null || { [ "$$(id -u)" = 0 ] && bash scripts/ci/setup-redis.sh; } || \
		{ echo "bench needs redis-server (the Redis-backed limits row): apt-get install redis-server" >&2; exit 1; }
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:  ## remove the venv and caches
	rm -rf $(VENV) $(CHECKOV_VENV) $(NEWMAN_DIR) .pytest_cache
