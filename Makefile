# Sohoa kiosk: set-up, demo and tests on a fresh Debian machine (bookworm or newer).
# `make demo` and `make test` install what they need first; every step is idempotent.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the kiosk and its tests need (OCR data, fonts for the sim camera,
# poppler for PDF checks, SANE and its test backend for scanners).
APT_PACKAGES = tesseract-ocr tesseract-ocr-vie tesseract-ocr-eng fonts-liberation2 \
	fonts-dejavu-core poppler-utils qpdf sane-utils libsane1 openssl python3-venv chromium \
	softhsm2 opensc libengine-pkcs11-openssl dbus-daemon postgresql
BENCH_APT_PACKAGES = ocrmypdf

.PHONY: setup apt venv demo test test-all bench lint format clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@./image-build/sane-test-backend.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

demo: setup
	$(VENV)/bin/sohoa demo

test: setup
	$(VENV)/bin/pytest -q

test-all: setup
	$(VENV)/bin/pytest -q -m ''

bench: setup
	@missing=$$(for p in $(BENCH_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get install -y -qq $$missing; fi
	$(PY) bench/pipeline.py

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var build *.egg-info .pytest_cache
