# PlotBurn. `make run` and `make test` each set up what they need (venv, pinned
# packages, emulators, functions) and tear it all down again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp changes whenever a requirements file does, so edits reinstall.
READY := $(VENV)/.ready-$(shell cat requirements.txt requirements-dev.txt pyproject.toml 2>/dev/null | md5sum | cut -c1-10)
TF := terraform -chdir=infra
TFVARS ?= terraform.tfvars

.PHONY: setup run serve trigger test test-fast test-unit test-integration test-e2e bench smoke plan deploy secrets destroy lint clean

$(READY): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The `plotburn` CLI; its dependencies are already pinned above.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.ready-*
	@touch $@

setup: $(READY)

run: setup ## the nightly job, end to end, on the local stack; prints the summary and exits
	$(BIN)/python -m local_stack run

serve: setup ## the same stack, left running for curl and gcloud (Ctrl-C stops it)
	$(BIN)/python -m local_stack serve

trigger: setup ## publish the scheduler's message to the running stack with gcloud
	$(BIN)/python -m local_stack trigger

test: setup ## the whole suite: unit, integration (emulators) and end-to-end (local stack)
	$(BIN)/python -m pytest

test-fast: setup ## every test that needs no emulator and no stack (under a minute)
	$(BIN)/python -m pytest -m "not emulators and not stack"

test-unit: setup
	$(BIN)/python -m pytest tests/unit

test-integration: setup
	$(BIN)/python -m pytest tests/integration tests/infra

test-e2e: setup
	$(BIN)/python -m pytest tests/e2e

bench: setup ## benchmarks; writes bench/RESULTS.md
	$(BIN)/python -m bench

smoke: setup ## one real call to TMDB, Perplexity and xAI with the keys in the environment
	$(BIN)/python -m smoke

plan: ## terraform plan against infra/$(TFVARS)
	$(TF) init -input=false
	$(TF) plan -input=false -var-file=$(TFVARS)

deploy: ## terraform init + apply with infra/$(TFVARS)
	$(TF) init -input=false
	$(TF) apply -input=false -var-file=$(TFVARS)

secrets: ## first deploy only: enable the APIs and create the four (empty) secrets
	$(TF) init -input=false
	$(TF) apply -input=false -var-file=$(TFVARS) -target=google_secret_manager_secret.plotburn

destroy:
	$(TF) destroy -input=false -var-file=$(TFVARS)

lint: setup ## ruff (lint and format), mypy --strict, the import-cycle check, terraform fmt
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_architecture.py
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive infra; \
	else echo "terraform is not installed: skipping terraform fmt"; fi

clean:
	rm -rf $(VENV) .stack .pytest_cache test-output
