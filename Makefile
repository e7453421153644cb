# The two commands of the README. Each sets itself up: venv, packages, database.
#   make run   — the app with demo data on the embedded default (SQLite + filesystem broker)
#   make test  — lint, layers contract and the whole test suite on PostgreSQL + Redis

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install simulate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	mkdir -p var/celery/queue var/celery/processed var/celery/control var/celery/results var/media
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py demo_banner
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Two test processes, one per core: half the suite waits on PostgreSQL, Chromium or a worker.
test: lint
	$(BIN)/pytest -n 2 --dist worksteal

# The seeded fault simulation alone (the test command runs it too), e.g. with another
# SIM_SEED or more SIM_STEPS; it prints what it did and the seed to replay a failure.
simulate: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider -s tests/simulation
