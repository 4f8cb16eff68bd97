# Sohoa kiosk: set-up, demo and tests on a fresh Debian machine (bookworm or newer).
# `make demo` and `make test` install what they need first; every step is idempotent.
# `make test` = `make lint` (ruff check, ruff format --check, mypy) + pytest.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the kiosk and its tests need (OCR data, fonts for the sim camera,
# poppler for PDF checks, SANE and its test backend for scanners, strace for the fsync-order test).
APT_PACKAGES = tesseract-ocr tesseract-ocr-vie tesseract-ocr-eng fonts-liberation2 \
	fonts-dejavu-core poppler-utils qpdf sane-utils libsane1 openssl python3-venv chromium \
	softhsm2 opensc libengine-pkcs11-openssl dbus-daemon postgresql strace $(IMAGE_CHECK_PACKAGES)
BENCH_APT_PACKAGES = ocrmypdf
# The OS image (image-build/): what its CI checks need (the x86-64 twin: build, nspawn boot,
# genimage layout, RAUC bundle), and what `make image` adds for the arm64 build under qemu.
IMAGE_CHECK_PACKAGES = mmdebstrap genimage systemd-container rauc squashfs-tools mtools \
	dosfstools fdisk e2fsprogs u-boot-tools uidmap
IMAGE_APT_PACKAGES = $(IMAGE_CHECK_PACKAGES) qemu-user-static binfmt-support arch-test
IMAGE_ARCH ?= arm64
# Outside the checkout: setuptools' package finder walks every directory under it (a root
# tree with /proc mounted during a build made `pip install -e .` hang).
IMAGE_OUT  ?= /var/tmp/sohoa-image/$(IMAGE_ARCH)

.PHONY: setup apt venv demo test test-all test-image bench lint format clean image image-twin image-lock

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

# CI runs this (.ci/run): lint and the type check first, then the default suite on every
# core (pytest-xdist, one test file per worker at a time: most tests wait on subprocesses,
# servers and the browser, so two workers on two cores halve the time), then the slow suites
# one at a time (kill matrices, PostgreSQL, the demo's rollout, the OS image).
test: setup lint
	$(VENV)/bin/pytest -q -n auto --dist loadfile
	$(VENV)/bin/pytest -q -rs -m slow

test-all: setup
	$(VENV)/bin/pytest -q -m ''

# The OS image checks (the x86-64 twin built from image-build/, booted in systemd-nspawn):
# marked slow (minutes to a quarter of an hour on a shared 2-core machine); `make test` runs
# them after the default suite (they skip, saying why, without root or the tools).
test-image: setup
	$(VENV)/bin/pytest -q -m '' tests/image

bench: setup
	@missing=$$(for p in $(BENCH_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get install -y -qq $$missing; fi
	$(PY) bench/pipeline.py

# The flashable Raspberry Pi 4 image (~1 h under qemu on 2 cores: a manual/nightly step).
# IMAGE_ARCH=amd64 builds the x86-64 twin instead. RAUC_CERT/RAUC_KEY: the release key
# (a throw-away one when unset). Output in $(IMAGE_OUT)/.
image: setup
	@missing=$$(for p in $(IMAGE_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get install -y -qq $$missing; fi
	$(SUDO) env ARCH=$(IMAGE_ARCH) PYTHON=$(abspath $(PY)) RAUC_CERT=$(RAUC_CERT) RAUC_KEY=$(RAUC_KEY) \
		image-build/build.sh $(IMAGE_OUT)

# Only the x86-64 twin's root file system (what the CI checks build, ~1 min warm).
image-twin: setup
	$(SUDO) env ARCH=amd64 PYTHON=$(abspath $(PY)) image-build/build-rootfs.sh /var/tmp/sohoa-image/amd64

# After a release: its manifest becomes the lock file the next builds are compared with.
image-lock:
	cp $(IMAGE_OUT)/manifest.lock image-build/lock/$(IMAGE_ARCH).lock

# ruff, then mypy over the folders [tool.mypy] in pyproject.toml names (no arguments).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var build *.egg-info .pytest_cache
