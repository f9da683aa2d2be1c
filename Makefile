# Two entry points, both of which build their own virtual environment from nothing but Python 3.11+:
#   make demo   run one sync of config.example.toml on the demo orders and show what it wrote
#   make test   lint, type-check and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PKG_DIRS := core connectors sync testing rfmsync_init

.PHONY: demo test test-later test-plugin lint typecheck install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# A regular (non-editable) install, as users get it: tests then run against what was packaged,
# so a module missing from the wheel fails here rather than for users.
install: $(BIN)/python
	$(BIN)/python -m pip install -q '.[test,bench]'

demo: install
	$(BIN)/rfmsync sync --config config.example.toml
	@echo "--- wrote out/demo/audiences/ (one file per segment, customers per file):"
	@for f in out/demo/audiences/*.csv; do printf '%5d %s\n' $$(($$(wc -l < $$f) - 1)) $$(basename $$f); done
	@echo "--- and out/demo/changes.csv (first lines):"
	@head -4 out/demo/changes.csv
	$(BIN)/rfmsync status --config config.example.toml --store demo

lint: install
	$(BIN)/ruff check $(PKG_DIRS) tests benchmarks

typecheck: install
	$(BIN)/mypy --strict $(PKG_DIRS)

test: lint typecheck
	$(BIN)/pytest

# The suite again with the machine's clock 400 days ahead (Debian's faketime): a test or demo that
# depends on today's date fails here before a user meets it.
test-later: install
	faketime -f '+400d' $(BIN)/pytest -q

# The third-party sink example, installed beside rfmsync as a user would install a plugin: its
# contract tests and a sync through its entry point.
test-plugin: install
	$(BIN)/python -m pip install -q './examples/plugin-sink[test]'
	$(BIN)/ruff check examples/plugin-sink
	$(BIN)/mypy --strict examples/plugin-sink/src
	$(BIN)/pytest examples/plugin-sink

bench: install
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) build *.egg-info demo-segments*.csv out .rfmsync
