# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test lint typecheck unit bench bench-hsm softhsm chromium wrk clean proto

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/mamori server

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# The instance API's messages (mamori.wire: the dedicated gateway and the client share them):
# regenerate the checked-in modules after editing the .proto (a test regenerates them the same
# way and fails when the checked-in copies differ).
PROTOS := src/mamori/wire/instance_api.proto
proto: $(DEV_STAMP)
	$(BIN)/python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src $(PROTOS)

# The HSM tests need SoftHSM2 (a software PKCS#11 token); install the Debian package when absent.
# The tests make their own tokens under a private SOFTHSM2_CONF, never the system token dir.
softhsm:
	@command -v softhsm2-util >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y softhsm2 || { $$SUDO apt-get update && $$SUDO apt-get install -y softhsm2; }; }

# The console's tests drive a real browser: Debian's chromium and its chromedriver, never a
# browser downloaded at test time.
chromium:
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y chromium chromium-driver || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium chromium-driver; }; }

# Two workers (pytest-xdist), a test file each at a time: the suite mostly waits on servers and
# clients in other processes, so two take ~11 min on two cores where one took ~16.
unit: $(DEV_STAMP) softhsm chromium
	$(BIN)/pytest -n 2 --dist loadfile --durations=25

test: lint typecheck unit

# The benchmarks replay prepared requests with wrk (Debian's package), installed when absent.
wrk:
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }; }

bench: $(DEV_STAMP) wrk
	$(BIN)/python benchmarks/encrypt.py

bench-hsm: $(DEV_STAMP) softhsm wrk
	$(BIN)/python benchmarks/hsm_encrypt.py

clean:
	rm -rf $(VENV) mamori-data .mypy_cache .ruff_cache .pytest_cache
