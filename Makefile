# shimgen: everything a fresh machine with Python 3.11+ and make needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-out
EXAMPLES := customer orders hr

.PHONY: demo test lint examples expected bench bench-generate sweep clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shimgen needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## demo: generate the customer shim, run it on localhost, show two groups, a round trip, a 403, a 422, the audit chain
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## test: lint, type-check and run every test (generated shims' own tests included)
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## examples: regenerate generated_examples/ (the golden record) from mappings/
examples: $(STAMP)
	for m in $(EXAMPLES); do $(BIN)/shimgen generate mappings/$$m.shim.yaml -o generated_examples/$${m}_shim || exit 1; done

## expected: rewrite mappings/expected/ from the samples (review the diff before committing)
expected: $(STAMP)
	$(BIN)/python -m tests.expected

## bench: translator throughput, service latency, tracking detections, and check/generate at scale
bench: $(STAMP)
	$(BIN)/python bench/translate.py
	$(BIN)/python bench/anomaly.py
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
	$(BIN)/python bench/service.py
	$(BIN)/python bench/generate.py

## bench-generate: wall time and peak RSS of check and generate on the real and synthetic schemas
bench-generate: $(STAMP)
	$(BIN)/python bench/generate.py

## sweep: every component of every real schema through init, check, generate and translate (about 10 min)
sweep: $(STAMP)
	$(BIN)/python scripts/sweep_real_schemas.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
