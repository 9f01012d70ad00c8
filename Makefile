# Set-up is automatic: every target below creates .venv (Python >= 3.12) and installs the project first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= outputs
export SOLARA_TELEMETRY_MIXPANEL_ENABLE := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint setup clean viz benchmark screenshot

setup: $(STAMP)

$(STAMP): pyproject.toml
	@python=$$(scripts/find-python.sh) && echo "using $$python" && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	@mkdir -p $(OUT)
	@# The reproduction exits 1 when a target is missed (a check for scripts); the main job still succeeds.
	@# Any other failure (2: bad input or a folder another run is writing; 130: Ctrl-C; 143: SIGTERM) fails the job.
	$(PY) -m experiments.reproduce_article --seeds 20 --out $(OUT)/article || { status=$$?; \
		[ $$status -eq 1 ] || exit $$status; echo "Some article targets are missed: see $(OUT)/article/report.md"; }

# The browser view (app.py): open http://127.0.0.1:$(PORT) once it says it is running.
PORT ?= 8765
viz: $(STAMP)
	$(VENV)/bin/solara run app.py --host 127.0.0.1 --port $(PORT) --no-open --production

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache

# Speed and memory of the drivers and engines side by side (minutes; ARGS=--full-scale for 170 million users).
benchmark: $(STAMP)
	$(PY) -m benchmarks.benchmark $(ARGS)

# The README's picture of the browser view (80 Steps in Chromium).
screenshot: $(STAMP)
	$(PY) -m experiments.viz.serving docs/viz-screenshot.png
