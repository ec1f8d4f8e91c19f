# The LPA reproducibility book. Two commands do everything (see README.md):
#   make book   executes every notebook with papermill and renders the HTML book
#   make test   unit tests, nbval over the notebooks (smoke profile), and a headless-browser check
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
PROFILE ?= full
LAB_PORT ?= 8888

.PHONY: venv data book book-smoke stability test unit lint nbval browser-deps lab bench clean help

help:
	@echo "make book   - execute all chapters (profile=$(PROFILE)) and render _build/html"
	@echo "make test   - ruff, unit tests + nbval (smoke profile) + headless-browser check of the rendered book"
	@echo "make lab    - JupyterLab on 127.0.0.1 with the project's kernel"
	@echo "make stability - rerun chapters 01, 03-05 with base_seed 1; the next make book compares verdicts"
	@echo "make data   - fetch and prepare the offline default data (idempotent)"
	@echo "make bench  - timing table of lpa_utils against reference implementations"

$(STAMP): requirements.txt pyproject.toml
	@echo "==> creating $(VENV) and installing requirements.txt (about 2 minutes the first time)"
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lpa)" >/dev/null
	touch $@

venv: $(STAMP)

data: venv
	$(BIN)/python -m lpa_utils.data fetch

book: data
	$(BIN)/python -m tools.book build --profile $(PROFILE)

# a second build of the verdict-bearing chapters with base_seed 1; the next `make book` compares the verdicts
stability: data
	$(BIN)/python -m tools.stability --profile $(PROFILE)

book-smoke: data
	$(BIN)/python -m tools.book build --profile smoke

browser-deps:
	@$(BIN)/python -m tools.browser ensure

lint: venv
	$(BIN)/ruff check lpa_utils tools tests
	$(BIN)/ruff format --check lpa_utils tools tests

unit: data
	$(BIN)/python -m pytest -q -m "not browser" tests

nbval: data
	LPA_PROFILE=smoke $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env notebooks

test: lint data browser-deps
	$(BIN)/python -m pytest -q -m "not browser" tests
	LPA_PROFILE=smoke $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env notebooks
	$(BIN)/python -m pytest -q -m browser tests

# as root (containers, this CI machine) Jupyter refuses to start without --allow-root
lab: venv
	$(BIN)/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) --no-browser --notebook-dir notebooks \
	    $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: venv
	$(BIN)/python -m tools.bench

clean:
	rm -rf _build
