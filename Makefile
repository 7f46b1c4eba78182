# Dasan Field: two commands do everything.
#   make run   set up (venv, deps, PostgreSQL+PostGIS, local cluster, migrations, Seoul demo data)
#              and serve the API on http://127.0.0.1:8000 (OpenAPI at /docs), with a live
#              simulated day playing against it (SIMULATION=0: without)
#   make test  the same set-up, then lint and the test suite

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DASAN_PG_PORT ?= 55432
export DASAN_DATABASE_URL ?= postgresql+psycopg://dasan@127.0.0.1:$(DASAN_PG_PORT)/dasan

.PHONY: run test setup venv web system-deps db seed lint format bench field-app field-app-stage \
	stop-db clean

# The server, and a live simulated day played against it so the dispatch console shows the
# city move; `make run SIMULATION=0` serves without it.
SIMULATION ?= 1
run: setup
	$(BIN)/dasan serve $(if $(filter 0 no false,$(SIMULATION)),,--simulation)

test: setup lint
	$(BIN)/pytest

setup: venv web system-deps db seed

# The venv is rebuilt when the pinned dependencies change.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# Front-end libraries the server serves itself (pinned in package-lock.json). Install
# scripts are not run: the one there (@scarf/scarf) only reports downloads.
web: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json | system-deps
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

system-deps:
	bash scripts/system-deps.sh

db: system-deps venv
	bash scripts/pg-cluster.sh start
	$(BIN)/dasan db create
	$(BIN)/dasan db upgrade

seed: db
	$(BIN)/dasan seed-demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy dispatch_server/clock.py dispatch_server/text.py dispatch_server/phones.py \
		dispatch_server/complaints/tickets.py geo/boundaries.py \
		dispatch_server/dispatch/states.py dispatch_server/attachments/images.py \
		geo/addresses.py geo/romanize.py geo/interpolation.py dispatch_server/privacy/redact.py \
		field_app/services field_app/viewmodels field_app/models field_app/fonts.py \
		dispatch_server/open311/params.py dispatch_server/open311/formats.py \
		dispatch_server/open311/texts.py dispatch_server/simulation/plan.py \
		dispatch_server/simulation/policies.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/geocode.py
	$(BIN)/python bench/sla_sweep.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/field_app.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/open311.py
	$(BIN)/python bench/simulate.py --all

# The inspectors' app on this desktop, against `make run`'s server (sign in as
# inspector-11110-1 / DASAN_DEMO_PASSWORD). It needs a screen: DISPLAY, or Xvfb for a look.
field-app: venv
	$(BIN)/python -m field_app --server $${DASAN_FIELD_SERVER:-http://127.0.0.1:8000}

# Stage the phone build (field_app/buildozer.spec): the package, its entry point, a font.
field-app-stage:
	rm -rf .data/android-src && mkdir -p .data/android-src/field_app/fonts
	cp -r field_app/*.py field_app/models field_app/services field_app/viewmodels \
		field_app/screens .data/android-src/field_app/
	cp /usr/share/fonts/truetype/nanum/NanumGothic.ttf \
		/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf .data/android-src/field_app/fonts/
	printf 'from field_app.__main__ import main\n\nmain([])\n' > .data/android-src/main.py

stop-db:
	bash scripts/pg-cluster.sh stop

clean: stop-db
	rm -rf .data $(VENV) node_modules
