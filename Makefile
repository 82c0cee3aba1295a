# souverain — one command per job. Every target sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KUBE_BIN = $(shell tools/kube/build.sh --bin-dir)
PYTEST_ARGS ?=
# The operator image `make image` builds; the Helm chart's default image.
IMAGE ?= ghcr.io/souverain/souverain
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# The archive `make image` writes, for `ctr -n k8s.io images import` or `docker load`.
IMAGE_ARCHIVE ?= build/images/souverain.tar

.PHONY: help setup binaries browser real-nodes crds lint fmt test test-unit run image node-images bench-cluster bench-namespaces bench-failover bench-chaos bench-real-nodes bench-history bench-guarantees bench-policies bench-webhook bench-scale bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "souverain needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	@touch $@

setup: $(STAMP) ## create .venv and install souverain with its test and lint tools

binaries: $(STAMP) ## build etcd, kube-*, kubectl, kwok and helm into the per-user cache (once per version)
	tools/kube/build.sh

crds: $(STAMP) ## regenerate crds/ and the chart's CRD templates from the pydantic models
	$(BIN)/python -m souverain crds --output crds --chart-output helm/souverain/templates/crds

lint: $(STAMP) ## ruff, format check, mypy --strict, helm lint --strict (builds helm alone if missing)
	$(BIN)/ruff check operator tests tools
	$(BIN)/ruff format --check operator tests tools
	$(BIN)/mypy
	tools/kube/build.sh helm
	$(KUBE_BIN)/helm lint --strict helm/souverain

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format operator tests tools
	$(BIN)/ruff check --fix operator tests tools

browser: ## Debian's headless Chromium, for the report test (installed when missing)
	tools/ensure-chromium.sh

real-nodes: $(STAMP) binaries ## what the real-node tests need: Debian's containerd, crun, CNI; kubelet; the images
	tools/ensure-real-nodes.sh

test: $(STAMP) binaries browser real-nodes ## run every test (unit and integration, on a local control plane)
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## run the tests that need no cluster
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

run: $(STAMP) binaries $(if $(filter-out 0,$(REAL_NODES)),real-nodes) ## run the operator (on a local control plane when KUBECONFIG is unset; REAL_NODES=1 adds two real nodes)
	PATH="$(KUBE_BIN):$$PATH" REAL_NODES="$(REAL_NODES)" tools/run.sh

image: ## build the operator image (docker, else buildah) and write IMAGE_ARCHIVE (IMAGE=..., IMAGE_TAG=...)
	IMAGE=$(IMAGE) IMAGE_TAG=$(IMAGE_TAG) IMAGE_ARCHIVE=$(IMAGE_ARCHIVE) tools/image/build.sh

node-images: ## build the pause and busybox images for real kubelets (once); print NAME=ARCHIVE lines
	@tools/image/node-images.sh

bench-cluster: $(STAMP) binaries ## measure build, start-up and memory of the local control plane
	$(BIN)/python tools/bench_cluster.py $(if $(COLD),--cold)

bench-namespaces: $(STAMP) binaries ## time N SovereignNamespaces to Ready (N=1,100,500) against the floor of writing their objects, operator memory and CPU
	$(BIN)/python tools/bench_namespaces.py $(SIZES)

bench-failover: $(STAMP) binaries ## two replicas; kill the active one (SIGKILL, SIGTERM) and time the takeover
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_failover.py $(if $(ROUNDS),--rounds $(ROUNDS))

bench-chaos: $(STAMP) binaries ## time to converge after each chaos event (API server/etcd restart, operator killed...)
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_chaos.py $(if $(ROUNDS),--rounds $(ROUNDS))

bench-real-nodes: $(STAMP) binaries real-nodes ## image size and build time, a cluster with 2 real nodes, helm install, the chart's failover (COLD=1: a cold image build too)
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_real_nodes.py $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(COLD),--cold)

bench-history: $(STAMP) ## bytes of one namespace's violation history after 1,000 violations, and one append's cost
	$(BIN)/python tools/bench_history.py

bench-guarantees: $(STAMP) binaries ## pod CREATE cost of the image, snapshot and Pod Security guarantees, against souverain before them
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_guarantees.py $(if $(ROUNDS),--rounds $(ROUNDS))

bench-policies: $(STAMP) binaries ## pod CREATE cost of each souverain policy alone, against no policy and the trivial MutatingAdmissionPolicy
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_policies.py $(if $(ROUNDS),--rounds $(ROUNDS))

bench-webhook: $(STAMP) $(if $(filter-out 0,$(OPERATOR)),binaries) ## one admission review's cost to souverain's webhook server, against a TLS server answering a constant patch (OPERATOR=1: also a running operator's, idle and busy)
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_webhook.py $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(filter-out 0,$(OPERATOR)),--operator)

bench-scale: $(STAMP) binaries ## 1,000 SovereignNamespaces and 10,000 pods: Ready against the floor, operator memory and CPU, drift (long; NAMESPACES= PODS= NODES=)
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_scale.py $(if $(NAMESPACES),--namespaces $(NAMESPACES)) $(if $(PODS),--pods $(PODS)) $(if $(NODES),--nodes $(NODES))

bench: $(STAMP) binaries ## the namespace benchmark, pod CREATE cost of placement against its floors (a-g), of each policy and of the other guarantees, webhook review cost, drift latency, failover, chaos, history size
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_namespaces.py $(SIZES)
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_placement.py $(if $(ROUNDS),--rounds $(ROUNDS))
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_policies.py $(if $(ROUNDS),--rounds $(ROUNDS))
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_guarantees.py $(if $(ROUNDS),--rounds $(ROUNDS))
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_webhook.py $(if $(ROUNDS),--rounds $(ROUNDS)) --operator
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_failover.py $(if $(ROUNDS),--rounds $(ROUNDS))
	PATH="$(KUBE_BIN):$$PATH" $(BIN)/python tools/bench_chaos.py $(if $(ROUNDS),--rounds $(ROUNDS))
	$(BIN)/python tools/bench_history.py

clean: ## remove the venv and local state (keeps the binary cache)
	rm -rf $(VENV) .souverain .pytest_cache .mypy_cache .ruff_cache
