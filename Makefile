# pf-figma: `make demo` shows the product, `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
PIP         := $(VENV)/bin/pip
CLUSTER_DIR ?= $(CURDIR)/.cluster
export KUBECONFIG ?= $(CLUSTER_DIR)/kubeconfig
BIN_DIR      = $(shell hack/build-binaries.sh print-dir)
include hack/versions.env
KUBECTL      = $(BIN_DIR)/kubernetes-$(K8S_VERSION)/kubectl
PYTEST_ARGS ?=

.PHONY: help install cluster-up cluster-down crds run demo test test-unit test-integration \
        lint bench bench-peers chaos quality clean chart-crds chart-crds-check images test-kueue \
        test-upgrade

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## create .venv with the project and its dev dependencies

cluster-up: ## start the local cluster (builds and caches binaries on first use)
	hack/cluster.sh up

cluster-down: ## stop the local cluster
	hack/cluster.sh down

crds: ## apply crds/ to the cluster in $KUBECONFIG
	$(KUBECTL) apply --server-side --field-manager=pf-figma -f crds/

run: install crds ## run the operator in the foreground against $KUBECONFIG
	$(VENV)/bin/pf-figma operator

demo: install cluster-up crds images ## from a fresh clone: cluster, images, helm install, examples, ./out
	hack/demo.sh

test: install ## everything: unit, agents, store, integration, chaos (quick), e2e on the real node
	hack/ensure-test-deps.sh
	hack/cluster.sh up
	hack/build-images.sh all
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: install ## unit tests only (no cluster)
	$(VENV)/bin/pytest tests/unit tests/agents -m "not cluster" $(PYTEST_ARGS)

test-kueue: install ## queueing: kueue on the local cluster (builds Kueue, a peer: not in make test)
	hack/cluster.sh up
	hack/build-binaries.sh kueue
	PF_TEST_KUEUE=1 $(VENV)/bin/pytest tests/integration/test_kueue.py $(PYTEST_ARGS)

# Not part of `make test` (its time budget is full): the previous release (the commit before the
# stage order changed) with pipelines in flight through `helm upgrade` to this tree's chart,
# CRDs and operator image. The previous operator image is built once (hack/prev-release.sh).
test-upgrade: install ## upgrade from the previous release with pipelines in flight (docs/helm.md)
	hack/cluster.sh up
	PF_IMAGE_TARGETS=operator hack/build-images.sh all
	PF_TEST_UPGRADE=1 $(VENV)/bin/pytest tests/integration/test_upgrade_in_flight.py $(PYTEST_ARGS)

test-integration: install ## integration tests against the local cluster
	$(VENV)/bin/pytest tests/integration -m cluster $(PYTEST_ARGS)

# mypy sees the packages under their import names (operator/ is pf_operator, agents/ is pf_agents).
MYPY_ROOT := build/mypy

lint: install ## ruff check, ruff format --check and mypy strict on all of operator/ and agents/
	$(VENV)/bin/ruff check operator agents tests hack
	$(VENV)/bin/ruff format --check operator agents
	@mkdir -p $(MYPY_ROOT)
	@ln -sfn ../../operator $(MYPY_ROOT)/pf_operator
	@ln -sfn ../../agents $(MYPY_ROOT)/pf_agents
	MYPYPATH=$(MYPY_ROOT) $(VENV)/bin/mypy -p pf_operator -p pf_agents

# Benchmarks and chaos runs need KWOK nodes only (a running real node is left as it is).
bench chaos: export NODE ?= kwok
bench: install cluster-up crds ## benchmarks (print tables, write bench/results/*.json; docs/scale.md)
	$(PY) hack/bench.py $(BENCH_ARGS)

# Peers on one control plane (issue 19): Tekton, Argo and pf-figma one after the other; not part of
# `make test`. The real node's kube-proxy routes the apiserver to Tekton's webhook (a host process
# behind a Service), so the cluster keeps its default profile. Full form:
#   make bench-peers BENCH_PEERS_ARGS="--pipelines 500 5000"
bench-peers: install cluster-up crds ## Tekton / Argo / pf-figma on the same KWOK control plane (docs/scale.md)
	$(PY) hack/bench_peers.py $(BENCH_PEERS_ARGS)

chaos: install cluster-up crds ## faults (operator kills, apiserver restart, leader kill, PostgreSQL down)
	$(PY) hack/chaos.py $(CHAOS_ARGS)

# Not part of `make test`: minutes of generator, Chromium and vitest runs (docs/quality.md).
quality: install ## fidelity, overflow, code, qa and mutation tables of the generated code (docs/quality.md)
	$(PY) hack/quality.py $(QUALITY_ARGS)

chart-crds: ## copy crds/ into the chart (Helm ships its own copy)
	hack/sync-chart-crds.sh

chart-crds-check: ## fail when the chart's CRDs differ from crds/
	hack/sync-chart-crds.sh --check

images: ## build the operator and agent images (local dockerd) and import them into the real node
	hack/build-images.sh build
	@if [ -S $(CLUSTER_DIR)/node/run/containerd/containerd.sock ]; then hack/build-images.sh import; fi

clean: ## remove local state (cluster, venv); the binary cache stays
	-hack/cluster.sh down
	rm -rf $(VENV) $(CLUSTER_DIR) out
