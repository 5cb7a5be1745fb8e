# The two commands a newcomer needs: `make bench` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-fast test-hosts test-libs test-replication test-compose lint format bench bench-all bench-libs bench-compose tune perf-service perf-analysis openapi clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes, so `make install` is idempotent and cheap.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# In two passes: on two workers (each with its own redis-server) the tests that start no
# run and the runs that only check how the harness behaves (`harness`); then the runs whose
# figures a busy machine would blur, one at a time.
test: install
	$(VENV)/bin/pytest -q -n 2 -m "(not run or harness) and not libraries and not replication and not hosts"
	$(VENV)/bin/pytest -q -m "run and not harness and not libraries and not replication and not hosts"

# The replica-lag and link-delay known answers (docs/strategies.md): real runs on the
# suite's own PostgreSQL primary and lagging replica, about 2 minutes; apart so that
# `make test` keeps its 15 minutes. CI runs it.
test-replication: install
	$(VENV)/bin/pytest -q -m replication

# The caching libraries' known answers and targeted experiments (docs/libraries.md): real
# runs of fastapi-cache2, cashews and aiocache strategies, apart so that `make test` keeps
# its 15 minutes. CI runs both.
test-libs: install
	$(VENV)/bin/pytest -q -m libraries

# Everything but the tests that start real runs of the harness (marked `run`), those that
# wait seconds on real time (`slow`) and the compose ones, on two workers: under 2 minutes
# on 2 cores, for the edit-test loop. `make test` runs them all.
test-fast: install
	$(VENV)/bin/pytest -q -n 2 -m "not run and not slow and not compose and not libraries and not replication and not hosts"

# Load from several hosts for real (docs/runtimes.md): the service, the harness with the
# Locust master, and two workers in network namespaces of the test's own, 1 ms of netem on
# every link, one worker's clock 40 ms off; about a minute. Needs root (ip netns); skips
# in one line without it. CI runs it.
test-hosts: install
	$(VENV)/bin/pytest -q -m hosts

# --runtime compose end to end on podman, with no registry: prepares podman and builds the
# base images locally (cached on the machine), then runs tests/compose (docs/runtimes.md: On Docker
# Compose). Needs root or sudo for apt-get and /etc/containers.
test-compose: install
	bash tests/compose/prepare.sh
	PATH="$(CURDIR)/tests/compose/bin:$$PATH" BENCH_COMPOSE_ENGINE=podman \
		$(VENV)/bin/pytest -q tests/compose

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

BENCH_ARGS ?=
bench: install
	$(PY) -m bench run $(BENCH_ARGS)

# Every registered strategy, beyond the guide's four too (about 1.1 min each).
bench-all: install
	$(PY) -m bench run --strategies all $(BENCH_ARGS)

# The caching libraries teams install (docs/libraries.md) beside `delete`, under
# read_mostly: 8 strategies x 30 s (+ ~8 s start and stop each), about 5 minutes.
bench-libs: install
	$(PY) -m bench run --strategies delete,libraries --scenario read_mostly --duration 30 $(BENCH_ARGS)

# The same experiment on Docker Compose (needs Docker Engine with Compose v2; docs/runtimes.md).
bench-compose: install
	$(PY) -m bench run --runtime compose $(BENCH_ARGS)

# A small default sweep, about 5 minutes on 2 cores: four strategies x TTLs 1, 5, 30 s at
# 2 replicas, 20 s a cell (+ ~5 s start and stop), then the recommendation for 100 ms.
TUNE_ARGS ?= --strategies ttl,delete,versioned,pubsub --ttls 1,5,30 --replicas 2 \
	--duration 20 --max-stale-ms 100
tune: install
	$(PY) -m bench sweep $(TUNE_ARGS)

perf-service: install
	$(PY) -m bench perf-service

# How analysis scales: synthetic runs of 1, 3 and 10 million request rows (docs/performance.md).
perf-analysis: install
	$(PY) -m bench perf-analysis --rows 1000000,3000000,10000000

# The published contract, generated from our own app (a test keeps it in step).
openapi: install
	$(PY) -m services.contract > docs/openapi.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
