# The two commands of the README: `make demo` and `make test`. Each builds its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench bench-files reliability clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/bricksync demo

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks

test: lint
	$(BIN)/python -m pytest -q -n auto

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/files.py

bench-files: $(BIN)/.installed
	$(BIN)/python benchmarks/files.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

reliability: $(BIN)/.installed
	$(BIN)/python benchmarks/reliability.py
