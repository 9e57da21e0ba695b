# Developer entry points; `make test` is what CI runs (.ci/run). The tests, demo and stack start Kafka and Redis.

# The first interpreter on the PATH that is Python 3.11 or newer; override with `make PYTHON=/path/to/python3.12`.
ifndef PYTHON
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so the venv is rebuilt only when pyproject.toml changes.
STAMP := $(VENV)/.installed

.PHONY: venv test demo stack lint bench eval

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed: none found on the PATH (set PYTHON=...)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

# The tests start Apache Kafka 4.x and redis-server themselves (tests/conftest.py).
test: venv
	$(BIN)/pytest -q

# Extra flags: make demo ARGS=--keep
demo: venv
	$(BIN)/detector demo $(ARGS)

# Kafka and Redis for running `detector worker` / `detector simulate --publish` by hand; Ctrl-C stops them.
stack: venv
	$(BIN)/detector stack

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m benchmarks

eval: venv
	$(BIN)/detector eval
