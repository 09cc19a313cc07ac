# Two commands: `make run` (set up, start the dashboard) and `make test` (set up, run the suite).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= all,dev

.PHONY: run test lint format test-lowest bench fuzz install clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/neuralforge ui

# The browser test drives Debian's chromium (never a downloaded browser).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install chromium (Debian package) for the browser test"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null

# The tracking-server test runs a real PostgreSQL: Debian's postgresql package (its initdb is not on PATH).
INITDB := $(firstword $(shell command -v initdb 2>/dev/null) $(wildcard /usr/lib/postgresql/*/bin/initdb))

.PHONY: postgresql
postgresql:
ifeq ($(INITDB),)
	@command -v apt-get >/dev/null || { echo "install PostgreSQL (initdb, postgres) for the tracking-server test"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq postgresql >/dev/null
endif

test: $(STAMP) $(CHROMIUM) postgresql lint
	$(PY) -m pytest

# One linter and one formatter (ruff, configured in pyproject.toml); `make format` applies both.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The dependency floors of pyproject.toml, proven: a fresh venv with every direct dependency at
# its lowest allowed version (uv's lowest-direct resolution; torch and torchvision stay at this
# machine's pins, constraints.txt), then the fast tests.
LOWEST := .venv-lowest

test-lowest: $(STAMP)
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(VENV)/bin/uv pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct \
		-c constraints.txt -e ".[all,dev]"
	$(LOWEST)/bin/python -m pytest -m "not slow" -q

bench: $(STAMP)
	$(PY) -m benchmarks.bench_shapes
	$(PY) -m benchmarks.bench_dsl
	$(PY) -m benchmarks.bench_tracking
	$(PY) -m benchmarks.bench_app
	$(PY) -m benchmarks.bench_train

fuzz: $(STAMP)
	NF_FUZZ_EXAMPLES=25000 $(PY) -m pytest -q tests/test_dsl_fuzz.py

clean:
	rm -rf $(VENV) $(LOWEST) build *.egg-info test-artifacts  # the data home (~/.neuralforge) is the user's: kept
