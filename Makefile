# Developer entry points; `make test` is what CI runs (.ci/run). The tests, demo and stack start Kafka and Redis.

# The first interpreter on the PATH that is Python 3.11 or newer; override with `make PYTHON=/path/to/python3.12`.
ifndef PYTHON
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
endif
# pip builds the engine's compiled part (detector/core/native) with cargo; rustup installs it in ~/.cargo/bin.
export PATH := $(HOME)/.cargo/bin:$(PATH)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so the venv is reinstalled only when pyproject.toml or the Rust sources change.
STAMP := $(VENV)/.installed
NATIVE := detector/core/native/Cargo.toml detector/core/native/Cargo.lock $(wildcard detector/core/native/src/*.rs)

.PHONY: venv test demo stack lint bench eval

venv: $(STAMP)

$(STAMP): pyproject.toml $(NATIVE)
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed: none found on the PATH (set PYTHON=...)" >&2; exit 1; }
	@command -v cargo >/dev/null || { echo "Rust's cargo is needed to build detector/core/native: https://rustup.rs" >&2; exit 1; }
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
