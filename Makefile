# The two commands a newcomer needs: `make bench` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint format bench perf-service clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes, so `make install` is idempotent and cheap.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

BENCH_ARGS ?=
bench: install
	$(PY) -m bench run $(BENCH_ARGS)

perf-service: install
	$(PY) -m bench perf-service

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
