# interceptor: `make demo` runs the gateway on embedded defaults, `make test` runs lint, types and tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup demo test lint typecheck pytest bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	@command -v psql >/dev/null && command -v pgbench >/dev/null || { \
	  echo "installing the PostgreSQL client tools (psql, pgbench)"; \
	  apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test]'
	@# editable installs cannot drop a twistd plugin into twisted/plugins; a .pth points twistd at ours
	$(PY) -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "interceptor-twistd-dev.pth").write_text("$(CURDIR)/interceptor/twistd\n")'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/interceptor demo

lint: setup
	$(VENV)/bin/ruff check interceptor protocols plugins tests bench
	$(VENV)/bin/ruff format --check interceptor protocols plugins tests bench

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: setup
	@command -v pgbouncer >/dev/null || { echo "installing pgbouncer (the benchmark's peer)"; \
	  apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }
	@command -v sysbench >/dev/null && command -v mariadb >/dev/null || { \
	  echo "installing sysbench and the MariaDB client (the MySQL benchmark's tools)"; \
	  apt-get update -qq && apt-get install -y -qq sysbench mariadb-client >/dev/null; }
	@test -x $(VENV)/bin/py-spy || { echo "installing py-spy (the profile under the targets table)"; \
	  $(PY) -m pip install -q py-spy || true; }
	$(PY) bench/run --python $(PY)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
