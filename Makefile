# The two commands a newcomer needs:
#   make lab    - JupyterLab on the learner notebooks (http://127.0.0.1:8888, token printed)
#   make test   - the whole test suite
# Both create and fill .venv from the pinned requirements.txt the first time.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
PORT   ?= 8888
STAMP  := $(VENV)/.installed
# Installed by jupyter-events' jsonschema[format-nongpl] only to check the "iri" format, which
# no Jupyter schema uses, and costly: importing it compiles a grammar, 0.7 s of CPU in every
# process that imports nbformat (each nbgrader, course, Jupyter server and pytest process).
# Without it jsonschema skips that one check (`pip check` is still clean).
UNUSED := rfc3987-syntax lark

# nbgrader runs `alembic` when it creates a gradebook, so the venv must be on PATH.
export PATH := $(BIN):$(PATH)
# Quiet, deterministic TensorFlow in every process started from here.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0

.PHONY: lab grade test test-jax lint venv notebooks lock clean chromium bench hub-env

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml course/setup_lab.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip uninstall --quiet --yes $(UNUSED)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	$(BIN)/course setup-lab
	touch $@

lab: $(STAMP)
	$(BIN)/course lab --port $(PORT)

# Learners: grade your own notebooks with the teacher's grader and hidden checks (copies of
# them; yours are not changed), then the table of your points. LESSON=01 grades one lesson.
grade: $(STAMP)
	$(BIN)/course check $(LESSON)

# Two workers (PYTEST_WORKERS=0 for one process); conftest.py keeps a notebook's nbval cells,
# and a lesson's nbgrader pipeline tests, on one worker.
PYTEST_WORKERS ?= 2
test: $(STAMP) chromium lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-jax

# ruff (settings in pyproject.toml): lint and formatting, checked without changing a file.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The helpers on a second Keras backend: their tests and docstring examples under JAX (CPU).
# (PyTorch works too but its wheel is several GB: docs/contributing.md, "Other Keras backends".)
test-jax: $(STAMP)
	KERAS_BACKEND=jax $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider tests/helpers helpers

# tests/browser/ drives Debian's Chromium. Install it when it is missing and this user can
# (root with apt-get, as on CI: about 1 minute); otherwise those tests skip and say why.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "WARNING: could not install chromium: the browser tests will be skipped"; \
	elif [ ! -x $(CHROMIUM) ]; then \
	  echo "WARNING: no chromium at $(CHROMIUM) (install it as root: apt-get install chromium): the browser tests will be skipped"; \
	fi

# Instructors: after editing a lesson in solutions/, re-run it (fresh outputs for nbval)
# and regenerate the learner version in notebooks/.
notebooks: $(STAMP)
	$(BIN)/course build

# Maintainers: how fast the kit is on this machine (kernel floor, each lesson, nbval, a class of
# 30 graded with serial nbgrader and with `course grade`); table on stdout, JSON in
# artifacts/bench/. BENCH_ARGS="--all-lessons" grades the 180-notebook class.
bench: $(STAMP)
	$(BIN)/course bench $(BENCH_ARGS)

# JupyterHub (docs/jupyterhub.md), as root: one environment every account can run, outside
# any home folder, set up for hub learners, with the exchange and the hub-wide nbgrader
# settings. HUB_PYTHON must be a Python 3.11 build every account can run (not one under
# /root) and at least 3.11.4 (Debian 12's 3.11.2 breaks nbgrader's feedback pages).
HUB_ENV      ?= /opt/keras-layer-reuse
HUB_PYTHON   ?= $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
HUB_EXCHANGE ?= /usr/local/share/nbgrader/exchange
hub-env:
	@runuser -u nobody -- $(HUB_PYTHON) -c 'import sys; assert sys.version_info >= (3, 11, 4), sys.version' \
	  || { echo "make hub-env: other accounts cannot run $(HUB_PYTHON) (or it is older than 3.11.4): set HUB_PYTHON"; exit 1; }
	$(HUB_PYTHON) -m venv $(HUB_ENV)
	$(HUB_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(HUB_ENV)/bin/python -m pip install --quiet -r requirements.txt
	$(HUB_ENV)/bin/python -m pip uninstall --quiet --yes $(UNUSED)
	$(HUB_ENV)/bin/python -m pip install --quiet --no-deps .
	$(HUB_ENV)/bin/course setup-hub --exchange $(HUB_EXCHANGE)
	chmod -R a+rX $(HUB_ENV)

# Maintainers: re-resolve requirements.in into the pinned requirements.txt.
lock:
	rm -rf build/lock && $(PYTHON) -m venv build/lock
	build/lock/bin/python -m pip install --quiet --upgrade pip
	build/lock/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Generated by 'make lock' from requirements.in: the exact versions CI and the README commands install."; \
	  echo "# Do not edit by hand."; \
	  grep -E '^tensorflow' requirements.in; \
	  build/lock/bin/python -m pip freeze --exclude-editable | grep -viE '^tensorflow(-|_)cpu=='; } > requirements.txt

clean:
	rm -rf $(VENV) build
