# The README's quick start: `make run` and `make test`. Both create .venv when missing and
# install what they need, pinned by constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
OUT    ?= runs/compare

# Tests and the main job find their data through NORMLAB_DATA: default it to the shared folder
# of per-dataset subfolders (mnist/, fashion-mnist/), so every dataset there works offline.
ifeq ($(origin NORMLAB_DATA),undefined)
  ifneq ($(wildcard ../shared/datasets/mnist),)
    export NORMLAB_DATA := $(abspath ../shared/datasets)
  endif
endif

.PHONY: run test install install-test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[test,tensorboard,ray]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Headless Chromium renders the HTML report in the tests. Install it where we can (root with
# apt); elsewhere the browser test skips and says why.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will skip"; \
	  else echo "note: chromium missing and cannot be installed here; the browser test will skip"; fi; \
	fi

run: install
	$(BIN)/normlab compare --out $(OUT)

test: install-test browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
