# One Makefile runs every gate. `make test` is what README and .ci/run call.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# jsii's end-of-life banner for Node 20 is silenced per major version
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONPATH := layers/parley/python:clients/python:sdk/python:.

.PHONY: help install test lint fmt typecheck pytest docs-check schemas openapi asyncapi docs dev redrive rebuild rebuild-inbox replay bench clean layer synth preflight fuzz chaos tail sdk ext-new

help:
	@echo "make dev        start the whole system locally on http://127.0.0.1:8000 (PARLEY_PORT overrides)"
	@echo "make bench      cold starts, AWS requests and cost per message, local latency and fan-out, sizes (bench/results.json)"
	@echo "make tail       print the running local stack's bus events and log lines live (TAIL_ARGS='--type X --source Y')"
	@echo "make sdk        build the parley-extension-sdk wheel (SDK, catalog types, pytest plugin, scaffold) into dist/"
	@echo "make ext-new    a new extension outside this repository: make ext-new NAME=standup DEST=../standup-ext"
	@echo "make redrive    put the running local stack's dead-lettered events back on their queues"
	@echo "make rebuild   compare a local chat with the fold of its event log, or repair it (CHAT=<id> [CHECK=1])"
	@echo "make rebuild-inbox  rebuild the local inbox read model from the chats' logs ([CHAT=<id>])"
	@echo "make replay    deliver the local log's events of a time window again to one route (ROUTE= FROM= TO=)"
	@echo "make chaos      a chat workload on the local stack under seeded faults, then the conservation law (CHAOS_ARGS=--seed N)"
	@echo "make test       create .venv (and .venv-checkov), install pinned requirements, run ruff, mypy and pytest"
	@echo "make schemas    write docs/events/*.json and docs/events.md from the event catalog"
	@echo "make openapi    write docs/openapi.json from the HTTP API"
	@echo "make fuzz       schemathesis, every check and phase, against a fresh local stack (FUZZ_ARGS=--max-examples N)"
	@echo "make fmt        format and autofix with ruff"
	@echo "make layer      build the shared layer's packages for Lambda arm64 / Python 3.13 into .cache/ (no Docker)"
	@echo "make synth      npx cdk synth with the pinned CDK CLI (see docs/deploy.md for deploy)"
	@echo "make preflight  synth, then check the AWS account and region for what a first deploy needs (CDK_ARGS='-c stage=dev')"

$(STAMP): requirements.txt
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing pinned requirements into $(VENV)"
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The Python client (clients/python) and the layer it takes its models from, editable: `parley` on PATH
# in .venv/bin, and code changes seen at once. --no-deps: requirements.txt already pinned what they need.
CLIENT_STAMP := $(VENV)/.client-installed
$(CLIENT_STAMP): $(STAMP) clients/python/pyproject.toml layers/parley/pyproject.toml
	@echo "==> installing parley_client and the layer (editable) into $(VENV)"
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e layers/parley -e clients/python
	@touch $@

install: $(STAMP) $(CLIENT_STAMP) layer

lint: $(STAMP)
	@echo "==> ruff"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@echo "==> import contracts (pyproject.toml [tool.importlinter]) and import cycles"
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m scripts.import_cycles

typecheck: $(STAMP)
	@echo "==> mypy"
	$(BIN)/mypy

# the official AsyncAPI JSON Schema (pinned npm package) the document is validated against
ASYNCAPI_SPECS := tests/asyncapi/node_modules/@asyncapi/specs/package.json
$(ASYNCAPI_SPECS): tests/asyncapi/package.json tests/asyncapi/package-lock.json
	cd tests/asyncapi && npm ci --no-audit --no-fund
	@touch $@

# axe-core (pinned npm package) the browser tests inject into every panel of the web client
AXE_CORE := tests/browser/node_modules/axe-core/axe.min.js
$(AXE_CORE): tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

# checkov, the second opinion on the synthesized template, in a venv of its own (requirements-checkov.txt)
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || { echo "==> creating $(CHECKOV_VENV)"; $(PYTHON) -m venv $(CHECKOV_VENV); }
	@echo "==> installing checkov into $(CHECKOV_VENV)"
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

pytest: $(STAMP) $(CLIENT_STAMP) layer $(ASYNCAPI_SPECS) $(AXE_CORE) $(CHECKOV_STAMP)
	@echo "==> pytest"
	$(BIN)/pytest

test: lint typecheck docs-check pytest

docs-check: $(STAMP)
	@echo "==> generated docs are current"
	$(BIN)/python -m scripts.gen_docs --check

schemas: $(STAMP)
	$(BIN)/python -m scripts.gen_docs --events

openapi: $(STAMP)
	$(BIN)/python -m scripts.gen_docs --openapi

asyncapi: $(STAMP)
	$(BIN)/python -m scripts.gen_docs --asyncapi

docs: $(STAMP)
	$(BIN)/python -m scripts.gen_docs

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dev: $(STAMP) $(CLIENT_STAMP)
	$(BIN)/python -m infra.local

redrive: $(STAMP)
	$(BIN)/python -m infra.local.redrive

sdk: $(STAMP)
	$(BIN)/python -m scripts.build_sdk

ext-new: $(STAMP)
	@test -n "$(NAME)" -a -n "$(DEST)" || { echo "usage: make ext-new NAME=standup DEST=../standup-ext"; exit 2; }
	PYTHONPATH=layers/parley/python:sdk/python $(BIN)/python -m parley_kit.scaffold $(NAME) $(DEST)

tail: $(STAMP)
	$(BIN)/python -m infra.local.tail $(TAIL_ARGS)

rebuild: $(STAMP)
	@test -n "$(CHAT)" || { echo "usage: make rebuild CHAT=<chat_id> [CHECK=1]"; exit 2; }
	$(BIN)/python -m infra.local.ops rebuild $(CHAT) $(if $(CHECK),--check)

rebuild-inbox: $(STAMP)
	$(BIN)/python -m infra.local.ops inbox $(CHAT)

replay: $(STAMP)
	@test -n "$(ROUTE)" -a -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make replay ROUTE=<route> FROM=<time> TO=<time>"; exit 2; }
	$(BIN)/python -m infra.local.ops replay --route $(ROUTE) --from $(FROM) --to $(TO)

fuzz: $(STAMP)
	$(BIN)/python -m scripts.fuzz $(FUZZ_ARGS)

bench: $(STAMP) layer
	$(BIN)/python -m bench $(BENCH_ARGS)

chaos: $(STAMP)
	$(BIN)/python -m tests.support.chaos $(CHAOS_ARGS)

# The layer's wheels for Lambda, cached by a hash of layers/parley/requirements.txt: a no-op when
# current, so synthesis (and the infra tests) never reach the network.
layer: $(STAMP)
	@echo "==> shared layer packages"
	$(BIN)/python -m infra.layer_build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

synth: install node_modules/.package-lock.json
	npx cdk synth --quiet $(CDK_ARGS)

preflight: synth
	$(BIN)/python -m infra.preflight $(CDK_ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache cdk.out
