# The README's two commands live here: `make demo` and `make test`.
# Each creates its virtual environment on first use and reinstalls only when a
# requirement file or pyproject.toml changes (the .installed stamps).

SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV := .venv
VENV311 := .venv311

# Home Assistant 2025.4.4 needs Python 3.13; the satellite also runs on Bookworm's 3.11.
find_python = $(shell for c in python$(1) $$(ls -d /root/.pyenv/versions/$(1).*/bin/python3 2>/dev/null | sort -V -r); do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(1)".split("."))))' 2>/dev/null; then \
	command -v $$c; break; fi; done)
PYTHON313 := $(call find_python,3.13)
PYTHON311 := $(call find_python,3.11)

.PHONY: test lint pytest pytest311 demo bench clean

test: lint pytest pytest311

$(VENV)/.installed: requirements/test.txt pyproject.toml
	@test -n "$(PYTHON313)" || { echo "error: no Python 3.13 found (looked for python3.13 on PATH and /root/.pyenv/versions/3.13.*/bin/python3)" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON313) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip==25.1.1
	$(VENV)/bin/python -m pip install --quiet -r requirements/test.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV311)/.installed: requirements/test-satellite.txt pyproject.toml
	@test -n "$(PYTHON311)" || { echo "error: no Python 3.11 found (looked for python3.11 on PATH and /root/.pyenv/versions/3.11.*/bin/python3)" >&2; exit 1; }
	rm -rf $(VENV311)
	$(PYTHON311) -m venv $(VENV311)
	$(VENV311)/bin/python -m pip install --quiet --upgrade pip==25.1.1
	$(VENV311)/bin/python -m pip install --quiet -r requirements/test-satellite.txt
	$(VENV311)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The integration's coverage gate counts what tests/integration and tests/link exercise.
pytest: $(VENV)/.installed
	$(VENV)/bin/pytest tests --cov=custom_components/maze_manager --cov-report=term-missing:skip-covered --cov-fail-under=95

pytest311: $(VENV311)/.installed
	$(VENV311)/bin/pytest tests/link tests/satellite -p no:cacheprovider

demo: $(VENV)/.installed
	$(VENV)/bin/python bench/venue.py

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/wire_sizes.py
	$(VENV)/bin/python bench/venue.py
	$(VENV)/bin/python bench/fanout.py
	$(VENV)/bin/python bench/satellite_footprint.py

clean:
	rm -rf $(VENV) $(VENV311) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
