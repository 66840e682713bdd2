# The two commands of README.md: `make run` and `make test`. Everything they need is set up here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint typecheck pytest install browser bench clean catalog

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, start on 127.0.0.1:8000 with the embedded defaults (SQLite, sandbox WeChat),
## which exist in the development environment only
run: export WXBOT_APP_ENVIRONMENT = development
run: install
	$(VENV)/bin/wxbot db upgrade
	$(VENV)/bin/wxbot serve

## make test: lint, format check, type check of the domain modules, the whole test suite
test: install browser lint typecheck pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy wxbot jobs

pytest: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The console tests drive Debian's Chromium (Playwright cannot download a browser here).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium; the browser tests will say so"; \
	  else echo "chromium missing (apt-get install chromium as root); the browser tests will say so"; fi; \
	fi

## make bench: the benchmarks of docs/benchmarks.md (MariaDB and Redis on 127.0.0.1, loopback only)
bench: install
	$(PY) bench/callback.py
	$(PY) bench/sender.py
	$(PY) bench/signups.py

## make catalog: the console's texts extracted, wxbot/translations/*/messages.po updated (write the new
## msgstr there) and compiled to the messages.mo the app loads (committed beside it)
catalog: install
	mkdir -p var
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l --no-location --sort-output -o var/messages.pot .
	$(VENV)/bin/pybabel update -i var/messages.pot -d wxbot/translations --no-fuzzy-matching --ignore-obsolete -w 110
	$(VENV)/bin/pybabel compile -d wxbot/translations --statistics

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
