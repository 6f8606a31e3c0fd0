# The commands people type. `make demo` and `make test` set up everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# make airflow's executor: local (LocalExecutor) or celery (CeleryExecutor, Redis broker, two workers)
EXECUTOR ?= local
CELERY_CONCURRENCY ?= 2
# the Celery broker: redis (the machine's Redis) or sqs (moto's SQS, in the local S3 server's process)
BROKER ?= redis

.PHONY: demo airflow airflow-stop airflow-reset fetch test test-quick lint bench bench-quick venv services mwaa-bundle docs screenshots clean

## demo: set up, start a local stack with sample data, run the DAG for real, print what it exported
## (ARCHIVE_LAYOUT=batch for the batch archive layout, here and in `make airflow`)
demo: venv services
	$(BIN)/python -m scripts.demo

## airflow: the local stack and a real Airflow 3.3.1 (UI on http://127.0.0.1:8080, admin/admin); Ctrl-C stops it
##          EXECUTOR=celery: the CeleryExecutor as on MWAA, two workers of CELERY_CONCURRENCY slots, BROKER=redis|sqs
airflow: venv services
	@if [ "$(EXECUTOR)" = celery ] && [ "$(BROKER)" = redis ]; then ./scripts/ensure_redis.sh; fi
	AIRFLOW_LOCAL_EXECUTOR=$(EXECUTOR) AIRFLOW_LOCAL_BROKER=$(BROKER) AIRFLOW_LOCAL_CELERY_CONCURRENCY=$(CELERY_CONCURRENCY) \
		$(BIN)/python -m scripts.airflow_local start

## fetch: print one archived message of the running `make airflow` stack: make fetch ID=<message id>
fetch: venv
	$(BIN)/python -m scripts.airflow_local fetch "$(ID)"

## airflow-stop: stop a running `make airflow` from another shell
airflow-stop: venv
	$(BIN)/python -m scripts.airflow_local stop

## airflow-reset: stop it and throw away its metadata database, ledger and .airflow/
airflow-reset: venv services
	$(BIN)/python -m scripts.airflow_local reset

## test: lint and the whole test suite (soak and 1M-document runs included) against real local services
test: venv services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-quick: everything but the slow tests (soak, 1M-document measurements)
test-quick: venv services
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench: side-by-side benchmark (what it measures: docs/performance.md; the celery phase: docs/celery.md);
##        bench-quick finishes in ~2 minutes, plus ~2 for its celery phase (a real Airflow)
bench: venv services
	$(BIN)/python -m bench

bench-quick: venv services
	$(BIN)/python -m bench --quick

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt dags/constraints.txt
	./scripts/ensure_system_deps.sh
	$(PYTHON) -m venv $(VENV)
	grep -v '^--constraint' requirements.txt > $(VENV)/requirements-local.txt
	$(BIN)/pip install --quiet --disable-pip-version-check \
		-r $(VENV)/requirements-local.txt -r requirements-dev.txt -c dags/constraints.txt
	touch $@

services:
	./scripts/ensure_mysql.sh
	./scripts/ensure_postgres.sh

## mwaa-bundle: build/plugins.zip and build/dags/ (DAG, constraints, include/) ready to upload
mwaa-bundle:
	$(PYTHON) -m scripts.mwaa_bundle --out build

## docs: the documentation site (docs/, mkdocs.yml) built into site/; a broken link or a page missing from the nav fails it
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## screenshots: the dashboard's light and dark screenshots of the docs, retaken by its browser tests
screenshots: venv services
	$(BIN)/python -m pytest tests/dashboard/test_browser_look.py -k colour_mode_switch $(PYTEST_ARGS)
	mkdir -p docs/images
	cp build/screenshots/dashboard-light.png build/screenshots/dashboard-dark.png docs/images/

clean:
	rm -rf build .pytest_cache .ruff_cache .demo
