# shimgen: everything a fresh machine with Python 3.11+ and make needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-out
EXAMPLES := customer orders hr

.PHONY: demo test lint examples expected bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shimgen needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## demo: check and generate the customer shim, then show one record as two groups see it
demo: $(STAMP)
	@mkdir -p $(DEMO)
	$(BIN)/shimgen check mappings/customer.shim.yaml
	$(BIN)/shimgen generate mappings/customer.shim.yaml -o $(DEMO)/customer_shim
	@test -f $(DEMO)/dev-keys.json || $(BIN)/python -m shimgen.runtime.keys new --id dev1 > $(DEMO)/dev-keys.json
	@echo "--- internal record"
	@head -n 1 mappings/samples/customer.internal.ndjson
	@echo "--- as group 'support' sees it"
	@head -n 1 mappings/samples/customer.internal.ndjson | SHIM_KEYS_FILE=$(DEMO)/dev-keys.json $(BIN)/shimgen translate mappings/customer.shim.yaml --group support
	@echo "--- as group 'billing' sees it"
	@head -n 1 mappings/samples/customer.internal.ndjson | SHIM_KEYS_FILE=$(DEMO)/dev-keys.json $(BIN)/shimgen translate mappings/customer.shim.yaml --group billing

## test: lint, type-check and run every test (generated shims' own tests included)
test: $(STAMP) lint
	$(BIN)/python -m pytest -q

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

bench: $(STAMP)
	$(BIN)/python bench/translate.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
