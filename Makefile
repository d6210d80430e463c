# Shoebox — run `make help` for the targets.

SHELL       := /bin/bash
GO          ?= go
export PATH := $(PATH):/usr/local/go/bin:$(shell $(GO) env GOPATH 2>/dev/null)/bin
BIN         := $(CURDIR)/bin
TOOLS       := $(BIN)/tools
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.7.0
FUZZTIME    ?= 8s
TESTFLAGS   ?=
VAR         := $(CURDIR)/var
# The build's version: git describe, "dev" outside a git checkout.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/shoebox/shoebox/appliance.Version=$(VERSION)

.PHONY: help build test lint cross proto proto-check unit-check metrics-check unit attack fuzz e2e-smart bench bench-smoke run demo clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

build: ## build shoebox (CLI) and shoeboxd (daemon) into ./bin
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/shoebox ./cmd/shoebox
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/shoeboxd ./cmd/shoeboxd

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK) ## gofmt, go vet, staticcheck and go mod tidy checks
	@echo "== gofmt"; out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@echo "== go mod tidy"; $(GO) mod tidy -diff
	@echo "== go vet"; $(GO) vet ./...
	@echo "== staticcheck"; $(STATICCHECK) ./...

cross: ## the cross builds: vault and store for macOS and Windows (the CLI restores on a laptop), the commands for 64-bit ARM boxes
	@echo "== cross"
	GOOS=darwin $(GO) build ./vault/... ./store/...
	GOOS=windows $(GO) build ./vault/... ./store/...
	GOOS=linux GOARCH=arm64 $(GO) build ./cmd/...

proto: ## regenerate the gateway's Go code and OpenAPI document from gateway/proto, and the cluster protocol's Go code from cluster/proto (installs protoc and plugins)
	bash gateway/proto/gen.sh

proto-check: ## fail when the committed generated code differs from what the .proto files give
	@echo "== proto-check"; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  bash gateway/proto/gen.sh $$tmp || { echo "proto-check: could not generate the code (see above); nothing was compared"; exit 1; }; \
	  diff -r gateway/gen $$tmp/gateway/gen && diff -r cluster/gen $$tmp/cluster/gen && diff -r gateway/openapi/shoebox.swagger.json $$tmp/gateway/openapi/shoebox.swagger.json \
	  || { echo "generated code is stale: run make proto and commit"; exit 1; }

UNIT        := image/systemd/shoeboxd.service
UNIT_MAX_EXPOSURE := 45

unit-check: ## the systemd unit: valid, and systemd-analyze security scores its exposure 4.5 or lower (installs systemd-analyze when missing)
	@echo "== unit-check"; \
	  command -v systemd-analyze >/dev/null || bash scripts/apt-install.sh --for "systemd-analyze (make unit-check)" systemd || exit 1; \
	  command -v systemd-analyze >/dev/null || { echo "unit-check: no systemd-analyze on PATH after installing Debian's systemd"; exit 1; }; \
	  tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  sed 's|^\(ExecStart[A-Za-z]*=\).*|\1/bin/true|' $(UNIT) >$$tmp/shoeboxd.service; \
	  out=$$(systemd-analyze verify --man=false $$tmp/shoeboxd.service 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; echo "$(UNIT) does not verify"; exit 1; fi; \
	  systemd-analyze security --offline=true --no-pager $(UNIT) | tail -1; \
	  systemd-analyze security --offline=true --no-pager --threshold=$(UNIT_MAX_EXPOSURE) $(UNIT) >/dev/null \
	    || { systemd-analyze security --offline=true --no-pager $(UNIT) | grep '✗'; \
	         echo "$(UNIT): exposure above 4.5 ($(UNIT_MAX_EXPOSURE) in systemd-analyze's tenths): tighten the sandbox (docs/DAEMON.md)"; exit 1; }

metrics-check: ## a real daemon's /metrics checked by Prometheus' parser and promtool check metrics (installs promtool: Debian prometheus)
	@command -v promtool >/dev/null || bash scripts/apt-install.sh --for "promtool (make metrics-check)" prometheus
	$(GO) test -count=1 -run 'TestMetricsScrape' ./appliance/

unit: ## go test -race ./... (TESTFLAGS=-short trims sizes)
	$(GO) test -race -timeout 25m $(TESTFLAGS) ./...

attack: ## the attacks on a real shoeboxd (memory under 512 MiB, /healthz within 1 s; docs/SECURITY.md), without the race detector
	$(GO) test -count=1 -timeout 15m -run 'TestAttack|TestReview' ./test/e2e/

fuzz: ## run every fuzz target for FUZZTIME each (scripts/fuzz.sh)
	@GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

e2e-smart: ## boot Linux under QEMU (TCG) with NVMe/AHCI/SCSI/USB disks and check disk health end to end
	bash smart/e2e/run.sh

test: lint cross proto-check unit-check metrics-check unit attack fuzz e2e-smart bench-smoke ## every check and test: lint, cross builds (macOS, Windows, arm64), the systemd unit's sandbox score, promtool on /metrics, go test -race, the attacks on a real daemon, bounded fuzzing, QEMU disk health, a smoke run of make bench

bench: build ## Shoebox beside restic, borg and kopia on the same data; then on disk arrays; then the API under load
	bash bench/bench.sh
	bash bench/raid.sh
	bash bench/apiload.sh

bench-smoke: ## make bench's three scripts on a 60 MB set, Shoebox only, one run each (~1 min; part of make test)
	@echo "== bench-smoke"; tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  BENCH_DIR=$$tmp BENCH_SIZE=60MB BENCH_REPS=1 BENCH_TOOLS=shoebox bash bench/bench.sh >$$tmp/bench.log 2>&1 \
	    || { tail -40 $$tmp/bench.log; echo "bench-smoke: bench/bench.sh failed"; exit 1; }; \
	  BENCH_DIR=$$tmp BENCH_RAID_SIZE=60MB BENCH_RAID_REPS=1 bash bench/raid.sh >$$tmp/raid.log 2>&1 \
	    || { tail -40 $$tmp/raid.log; echo "bench-smoke: bench/raid.sh failed"; exit 1; }; \
	  BENCH_DIR=$$tmp APILOAD_CLIENTS=4 APILOAD_SECONDS=3 APILOAD_FILES=20 APILOAD_SIZE=20MiB APILOAD_CHURN=1MiB bash bench/apiload.sh >$$tmp/apiload.log 2>&1 \
	    || { tail -40 $$tmp/apiload.log; echo "bench-smoke: bench/apiload.sh failed"; exit 1; }; \
	  for want in '| shoebox | initial backup |' '| 4+2 |' '| with backup | **all** |'; do \
	    grep -qF -- "$$want" $$tmp/results.md $$tmp/raid.log $$tmp/apiload.md || { echo "bench-smoke: no '$$want' row in the reports"; exit 1; }; \
	  done; echo "bench-smoke: ok"

run: build ## the daemon on the demo config: 2+1 array of folders under ./var, ./var/inbox watched, https://localhost:8443
	@bash scripts/run.sh "$(BIN)" "$(VAR)"

demo: build ## a scripted CLI tour: init, backup, restore, check on ./var/demo-repo
	@bash scripts/demo.sh "$(BIN)/shoebox" "$(VAR)"

clean: ## remove ./bin and ./var
	rm -rf $(BIN) $(VAR)
