# The commands the README tells people to type. Everything installs into .venv from PyPI:
# no sudo, no system packages (speech comes from the espeakng-loader wheel, MP3 from lameenc).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast bench lint clean voice-report

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py audioguide/render/_kernels.c
	@echo "Setting up $(VENV): installing audioguide and its dependencies from PyPI (1-2 minutes the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@# An editable install leaves our modules uncompiled; where PYTHONDONTWRITEBYTECODE is set, every
	@# command would compile them again (0.1-0.3 s). pip compiles what it installs; this does ours.
	$(BIN)/python -m compileall -q audioguide
	@echo "$(VENV) is ready."
	touch $(STAMP)

demo: setup
	$(BIN)/audioguide build lower-back-10min -o output/lower-back-10min.mp3

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not browser"

VOICE_STAMP := $(VENV)/.voice-report-stamp

# Voice quality (DNSMOS, pocketsphinx WER) of the flagship phrases per voice; its tools are an
# optional extra, never runtime dependencies. A FAIL is reported, not an error.
voice-report: $(VOICE_STAMP)
	$(BIN)/python scripts/voice_report.py

$(VOICE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[voice-report]'
	touch $@

bench: setup
	$(BIN)/python scripts/bench.py

lint: setup
	$(BIN)/ruff check audioguide tests scripts
	$(BIN)/ruff format --check audioguide tests scripts
	$(BIN)/mypy audioguide
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache build *.egg-info
	find output -mindepth 1 ! -name .gitkeep -delete
