# milvus-course: every target sets itself up from nothing (Python 3.10+ and make).
#   make run              all lessons, in order, on the default engine (Milvus Lite)
#   make run LESSONS=1    one step;  make run LESSONS="1.3 2.1"  single lessons
#   make test             unit tests + every lesson on Milvus Lite, then on the embedded Milvus server
#   make server           the embedded Milvus server in the foreground (http://127.0.0.1:19530)
#   make bench            every lesson timed against its budget on a fresh Lite file (fails when over)
#   make check            grade your answers in exercises/ (STEP=2, EX=2.1; SOLUTIONS=1 grades solutions/)
#   make docs             refresh the lesson code shown in docs/ from the lessons
#   make notebooks        every lesson as a Jupyter notebook in notebooks/ (the .py stays the source)
#   make docs-site        the docs as a searchable site in site/ (mkdocs build --strict)
#   make docs-figures     redraw the two diagrams in docs/img/ (lesson figures come with make docs-output)
#   make docs-output      re-run every step on a fresh Lite file and rewrite the output blocks in docs/
#   make reset-db         remove the course's Milvus Lite database (.milvus/course.db) after saying what it holds
#   make secrets          random passwords for docker compose in .env (fills empty ones, never overwrites)

PYTHON ?= python3
# Models load from installed packages only; nothing is downloaded at run time (set 0 to allow it).
export HF_HUB_OFFLINE ?= 1
VENV := .venv
PY := $(VENV)/bin/python
SERVER_VENV := .venv-server
LESSONS ?=

.PHONY: help venv server-venv run bench list reset-db secrets docs notebooks docs-site docs-figures docs-output check test test-lite test-server test-unit server lint clean

help:
	@sed -n '/^$$/q;p' Makefile

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(SERVER_VENV)/.installed: requirements-server.txt
	test -x $(SERVER_VENV)/bin/python || $(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SERVER_VENV)/bin/python -m pip install --quiet -r requirements-server.txt
	touch $@

venv: $(VENV)/.installed
server-venv: $(SERVER_VENV)/.installed

run: venv
	$(PY) -m course.curriculum run $(LESSONS)

# Every lesson on a fresh Milvus Lite file, timed against its budget: fails when one is over, or the total
# passes TOTAL_BUDGET_S in course/curriculum.py (budgets are for an idle 2-core machine; run it with
# nothing else going on).
bench: venv
	tmp=$$(mktemp -d) && MILVUS_URI=$$tmp/bench.db $(PY) -m course.curriculum run --check-budget $(LESSONS); status=$$?; rm -rf $$tmp; exit $$status

list: venv
	$(PY) -m course.curriculum list

# Remove the Milvus Lite database the lessons use (after saying what it holds); lessons recreate it.
reset-db: venv
	$(PY) -m course.curriculum reset-db

# Random credentials for docker compose (MinIO, Milvus root + MILVUS_TOKEN, Grafana) in .env; values already set
# are kept. Needs only Python (no venv): run it before the first `docker compose up`.
secrets:
	$(PYTHON) -m course.env_secrets

# Copy the code regions the lessons mark (# docs:begin NAME ... # docs:end) into docs/ again.
# Graded exercises: STEP=N or EX=N.M to choose, SOLUTIONS=1 to grade the reference solutions.
check: venv
	$(PY) -m course.grader $(if $(STEP),--step $(STEP)) $(if $(EX),--ex $(EX)) $(if $(SOLUTIONS),--solutions) $(if $(SEED),--seed $(SEED))

docs: venv
	$(PY) -m course.docs_code

# Every lesson as a Jupyter notebook in notebooks/ (generated; the lesson's .py is the only source).
# A notebook changed by hand is not written over unless FORCE=1.
notebooks: venv
	$(PY) -m course.notebooks $(if $(FORCE),--force) $(LESSONS)

# The docs as a searchable site in site/; serve it (python -m http.server -d site) and open http://127.0.0.1:8000.
# --strict turns every warning into a failure: a broken link, image or heading anchor.
docs-site: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

docs-figures: venv
	$(PY) -m course.docs_figures

docs-output: venv server-venv
	$(PY) -m course.docs_output

# The Lite pass uses a throwaway database file; the server pass starts the
# embedded server on a temporary data directory and always stops it. The server
# passes run beside the Lite pass (course/test_passes.py; --serial for one after the other).
test: venv server-venv
	$(PY) -m course.test_passes

test-lite: venv
	@echo "=== pass 1: unit tests + lessons on Milvus Lite ==="
	$(PY) -m ruff check .
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site
	tmp=$$(mktemp -d) && MILVUS_URI=$$tmp/test.db $(PY) -m pytest; status=$$?; rm -rf $$tmp; exit $$status

test-server: venv server-venv
	@echo "=== pass 2: lessons on the embedded Milvus server (all but the engine-neutral tests pass 1 ran) ==="
	$(PY) -m course.server run -- $(PY) -m pytest -m "lesson and not engine_neutral"

# Security (RBAC + TLS) needs a server of its own: the lesson starts an authorization- and TLS-enabled
# embedded server while no other one runs (two embedded servers cannot share etcd's ports).
test-secure: venv server-venv
	@echo "=== pass 3: the security lesson on its own secured embedded server ==="
	MILVUS_URI=http://127.0.0.1:19541 $(PY) -m pytest -m secure_server

test-unit: venv
	$(PY) -m pytest -m "not lesson"

server: venv server-venv
	$(PY) -m course.server serve --data .milvus/server

lint: venv
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(SERVER_VENV) .milvus reports .cache .pytest_cache site
