# Tally's developer commands. `make help` lists them.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/tally

.DEFAULT_GOAL := help

.PHONY: help run test testbed soak bench build generate lint deps clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: deps build ## build and start Tally with demo data at http://127.0.0.1:8080 (Ctrl-C stops it)
	scripts/with-postgres.sh scripts/run-demo.sh $(BIN)

test: ## run the whole test suite (installs what it needs; starts Postgres if none runs)
	scripts/with-postgres.sh scripts/test.sh

testbed: ## start the Slurm testbed alone (root) and write .tally/slurm-22.05.env for a shell or tally
	scripts/test-slurm-setup.sh

soak: ## 200 simulated people for 5 minutes with ingest every 30 s; fails over 100 ms p99 (prints a latency table)
	TALLY_SOAK=$${TALLY_SOAK:-5m} TALLY_SOAK_P99=$${TALLY_SOAK_P99:-100ms} TALLY_SOAK_REPORT=$(CURDIR)/.tally/soak.md scripts/with-postgres.sh \
		bash -c 'set -o pipefail; scripts/test-pam-setup.sh >/dev/null && go test -count=1 -timeout 30m -run "^TestSoak$$" -v ./web/ | grep -vE "^=== |unloaded"'

bench: ## the end-to-end benchmarks against the local PostgreSQL (prints a table)
	scripts/with-postgres.sh scripts/bench.sh

build: ## build bin/tally
	$(GO) build -o $(BIN) ./cmd/tally

generate: ## regenerate templ code and the README's configuration table
	$(GO) tool templ generate
	$(GO) run ./cmd/tally config | scripts/replace-block.sh README.md config

lint: ## gofmt, go vet, and staticcheck when the module proxy serves it
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./... || echo "staticcheck unavailable or failed (see above)"

deps: ## install system packages the build needs (root on Debian/Ubuntu)
	scripts/deps.sh

clean: ## remove build output and the private Postgres under .tally/
	rm -rf bin .tally
