# Set-up is automatic: every target below creates .venv (Python >= 3.12) and installs the project first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= outputs
export SOLARA_TELEMETRY_MIXPANEL_ENABLE := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint setup clean benchmark

setup: $(STAMP)

$(STAMP): pyproject.toml
	@python=$$(scripts/find-python.sh) && echo "using $$python" && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.reproduce_article --seeds 20 --out $(OUT)/article

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache

# Speed and memory of both drivers side by side (minutes; add ARGS=--large for 1e7 users).
benchmark: $(STAMP)
	$(PY) -m experiments.benchmark $(ARGS)
