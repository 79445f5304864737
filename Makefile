# The two commands of the README: `make demo` and `make test`.
# Both create the virtualenv, install the package and any missing system package.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PACKAGES ?= mosquitto mosquitto-clients chromium libusb-1.0-0 systemd cage openssl \
	fonts-dejavu-core fonts-lohit-deva fonts-tlwg-loma-otf poppler-utils nats-server

.PHONY: test demo install system-packages bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(VENV)/.installed

system-packages:
	@scripts/install-system-packages $(SYSTEM_PACKAGES)

test: system-packages install
	$(PY) -m mypy
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: system-packages install
	$(VENV)/bin/benchpin demo $(DEMO_ARGS)

bench: system-packages install
	$(PY) bench/telemetry.py
	$(PY) bench/scan.py
	$(PY) bench/engrave.py
	$(PY) bench/kiosk.py
	$(PY) bench/kiosk_screen.py
	$(PY) bench/historian.py
	$(PY) bench/passport.py
	$(PY) bench/plant.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache tests/artifacts
