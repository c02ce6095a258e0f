# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYPROJECTS := services/proxy/pyproject.toml services/mock-model/pyproject.toml \
              tui/pyproject.toml finetune/pyproject.toml tests/requirements.txt

PYTEST_ARGS ?=

.PHONY: install run test clean help knowledge

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python $(PYPROJECTS)
	$(BIN)/pip install --quiet \
		-e 'services/proxy[test]' -e 'services/mock-model[test]' \
		-e 'tui[test]' -e 'finetune[test]' -r tests/requirements.txt
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the four packages (editable) with test extras

run: install  ## start mock-model (:5050) and the proxy (:8000) in the foreground; Ctrl-C stops both
	$(BIN)/python scripts/run_local.py

test: install  ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

knowledge: install  ## rebuild the knowledge pack (and its packaged copies) from finetune/data/candidate.xlsx
	$(BIN)/llm-finetune pack finetune/data/candidate.xlsx -o finetune/data/knowledge.json --packaged

clean:  ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache
