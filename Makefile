# Two commands matter: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format install browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Local development: webhooks to localhost are allowed (MB_WEBHOOK_ALLOW_PRIVATE=true).
run: $(STAMP)
	@echo "Starting meterbell on http://$${MB_HOST:-127.0.0.1}:$${MB_PORT:-8400} (store: ./var/, private webhook targets allowed for local development)"
	MB_WEBHOOK_ALLOW_PRIVATE=$${MB_WEBHOOK_ALLOW_PRIVATE:-true} $(BIN)/meterbell serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks migrations scripts
	$(BIN)/ruff format --check src tests benchmarks migrations scripts
	$(BIN)/mypy src

# The browser tests (tests/browser) drive Debian's chromium through playwright's own driver.
browser:
	@command -v chromium >/dev/null || { \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

test: lint browser
	$(BIN)/pytest -q -n 2 --dist loadfile

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks migrations scripts
	$(BIN)/ruff check --fix src tests benchmarks migrations scripts

# Benchmarks (not tests): a separate venv that also holds the competitor engines.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml benchmarks/requirements-calc.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -e '.[dev]' -r benchmarks/requirements-calc.txt
	touch $@

# Every table in docs/benchmarks.md, in its order (about an hour on 2 cores; PostgreSQL at
# MB_BENCH_POSTGRES_URL, default the local test database).
BENCH_PG ?= $${MB_BENCH_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/calc.py
	$(BENCH_VENV)/bin/python benchmarks/api.py
	$(BENCH_VENV)/bin/python benchmarks/e2e.py
	$(BENCH_VENV)/bin/python benchmarks/e2e.py --store postgres --postgres-url $(BENCH_PG)
	$(BENCH_VENV)/bin/python benchmarks/e2e.py --without-metrics
	$(BENCH_VENV)/bin/python benchmarks/metrics_cost.py
	for shape in 1,1 2,1; do $(BENCH_VENV)/bin/python benchmarks/e2e.py --cluster $$shape || exit 1; done
	$(BENCH_VENV)/bin/python benchmarks/e2e.py --preload 1000000
	$(BENCH_VENV)/bin/python benchmarks/e2e.py --preload 1000000 --preload-expired
	for shape in 1,1 2,1 1,2 2,2; do \
		$(BENCH_VENV)/bin/python benchmarks/e2e.py --store postgres \
			--postgres-url $(BENCH_PG) --cluster $$shape || exit 1; done
	$(BENCH_VENV)/bin/python benchmarks/backfill.py
	$(BENCH_VENV)/bin/python benchmarks/ingest.py
	$(BENCH_VENV)/bin/python benchmarks/export.py
	$(BENCH_VENV)/bin/python benchmarks/console.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .pytest_cache .ruff_cache
