# The README's two commands live here: `make demo` and `make test`.
# Each creates its virtual environment on first use and reinstalls only when a
# requirement file or pyproject.toml changes (the .installed stamps).
#
# Three test environments:
#   .venv      Python 3.13, Home Assistant 2025.4.4 (the oldest supported), requirements/test.txt
#   .sid/venv  Python 3.14 in a Debian sid root (tools/sid-root.sh), the newest Home Assistant
#              that pytest-homeassistant-custom-component offers, requirements/test-newest.txt
#   .venv311   Python 3.11 (Raspberry Pi OS Bookworm): the satellite and the protocol

SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV := .venv
VENV311 := .venv311
SID := .sid
# The sid root's virtual environment, as /venv inside the root.
SID_VENV := $(SID)/venv
SID_RUN := tools/sid-root.sh run $(SID)
space := $(subst ,, )

# Home Assistant 2025.4.4 needs Python 3.13; the satellite also runs on Bookworm's 3.11.
find_python = $(shell for c in python$(1) $$(ls -d /root/.pyenv/versions/$(1).*/bin/python3 2>/dev/null | sort -V -r); do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(1)".split("."))))' 2>/dev/null; then \
	command -v $$c; break; fi; done)
PYTHON313 := $(call find_python,3.13)
PYTHON311 := $(call find_python,3.11)

# The header before each pytest run: which Home Assistant and Python it tests.
HA_HEADER := import sys, homeassistant.const as c; print(f"===== Home Assistant {c.__version__} on Python {sys.version.split()[0]} =====")

.PHONY: test lint pytest pytest-newest pytest311 pin-newest demo bench clean

test: lint pytest pytest-newest pytest311

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

# The sid root: made once (debootstrap), then only the package list is kept installed.
$(SID)/.built: requirements/sid-packages.txt
	tools/sid-root.sh build $(SID) requirements/sid-packages.txt
	touch $@

$(SID_VENV)/.installed: $(SID)/.built requirements/test-newest.txt pyproject.toml
	rm -rf $(SID_VENV)
	$(SID_RUN) 'python3.14 -m venv /venv \
		&& /venv/bin/python -m pip install --quiet --upgrade pip==26.2.2 \
		&& /venv/bin/python -m pip install --quiet -r requirements/test-newest.txt \
		&& /venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .'
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The integration's coverage gate counts what tests/integration and tests/link exercise.
pytest: $(VENV)/.installed
	@$(VENV)/bin/python -c '$(HA_HEADER)'
	$(VENV)/bin/pytest tests --cov=custom_components/maze_manager --cov-report=term-missing:skip-covered --cov-fail-under=95

# The newest Home Assistant: the integration, the protocol and the end-to-end tests
# (the satellite's own tests run on 3.13 and 3.11).
pytest-newest: $(SID_VENV)/.installed
	@$(SID_RUN) '/venv/bin/python -c '"'"'$(HA_HEADER)'"'"
	$(SID_RUN) '/venv/bin/pytest tests/integration tests/link tests/e2e -p no:cacheprovider'

# Regenerates requirements/test-newest.txt: pytest-homeassistant-custom-component (which pins
# Home Assistant), what Home Assistant's manifests pin for the integrations the tests and the
# end-to-end `hass` set up (tools/ha_requirements.py; a real Home Assistant would install
# those at run time), and the extra test packages of requirements/test.txt, installed in a
# scratch venv in the root.
PHCC_NEWEST := 0.13.375
NEWEST_HA_DOMAINS := frontend tts demo logbook automation config onboarding zeroconf api
NEWEST_EXTRAS := hypothesis build wheel gpiozero
pin-newest: $(SID)/.built
	$(SID_RUN) 'set -e; python3.14 -m venv /tmp/pin && . /tmp/pin/bin/activate \
		&& pip install --quiet --upgrade pip==26.2.2 \
		&& pip install --quiet pytest-homeassistant-custom-component==$(PHCC_NEWEST) \
		&& ha_requirements=$$(python tools/ha_requirements.py $(NEWEST_HA_DOMAINS)) \
		&& extras=$$(grep -iE "^($(subst $(space),|,$(NEWEST_EXTRAS)))==" requirements/test.txt) \
		&& pip install --quiet $$ha_requirements $$extras \
		&& pip install --quiet -e . \
		&& { echo "# Test environment for the newest Home Assistant on Python 3.14 (Debian sid root): every package pinned."; \
			echo "# Made by \`make pin-newest\` from pytest-homeassistant-custom-component==$(PHCC_NEWEST)"; \
			echo "# (Home Assistant $$(python -c "import homeassistant.const as c; print(c.__version__)")), the requirements its manifests"; \
			echo "# name for $(NEWEST_HA_DOMAINS), and $(NEWEST_EXTRAS)."; \
			pip freeze --exclude-editable 2>/dev/null; } > requirements/test-newest.txt'

pytest311: $(VENV311)/.installed
	@$(VENV311)/bin/python -c 'import sys; print(f"===== The satellite and the protocol on Python {sys.version.split()[0]} =====")'
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
	@if findmnt -rn -o TARGET | grep -q "^$(CURDIR)/$(SID)\(/\|$$\)"; then \
		echo "something is mounted under $(SID); not removing it" >&2; exit 1; fi
	rm -rf --one-file-system $(SID)
