# patientlink — `make help` lists the targets.
GO          ?= go
BIN         := $(CURDIR)/.bin
SQLC_VERSION := v1.31.1
SQLC        := $(BIN)/sqlc-$(SQLC_VERSION)
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)

.DEFAULT_GOAL := help
.PHONY: help run test build vet fmt-check lint generate verify compose-check govulncheck fuzz-smoke db-start db-stop ci chaos chaos-ci bench soak
# Targets run one after another even under -j: the CI steps share the private
# Postgres cluster and the machine's cores.
.NOTPARALLEL:

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## the service with a private Postgres, the index simulator, a webhook sink and a demo customer
	$(GO) run ./cmd/patientlink dev

test: ## every test against a real Postgres (the private cluster when DATABASE_URL is unset)
	$(GO) test -race -count=1 ./...

build: ## build bin/patientlink into .bin/
	$(GO) build -o $(BIN)/patientlink ./cmd/patientlink

vet: ## go vet
	$(GO) vet ./...

fmt-check: ## fail when gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '/internal/dbsqlc/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: $(GOLANGCI_LINT) ## golangci-lint with .golangci.yml (installs the pinned version into .bin/)
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $(GOLANGCI_LINT)

$(SQLC):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) CGO_ENABLED=1 $(GO) install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)
	mv $(BIN)/sqlc $(SQLC)

# Every generated file, in dependency order: River's migration files feed
# sqlc's schema. `make verify` and the tests fail when one is stale.
generate: $(SQLC) ## run every generator: River's migration files, internal/postgres/internal/dbsqlc (sqlc), the README's config table
	$(GO) test ./migrations -run '^TestRiverMigrationsCurrent$$' -count=1 -update-river
	$(SQLC) generate
	$(GO) test ./internal/config -run '^TestREADMEConfigTable$$' -count=1 -update-readme

verify: $(SQLC) ## fail when the committed sqlc output is stale
	$(SQLC) diff

compose-check: ## validate compose.yaml (skipped without docker compose)
	bash .ci/compose-check.sh

govulncheck: ## govulncheck (skipped when vuln.go.dev is unreachable)
	bash .ci/govulncheck.sh

fuzz-smoke: ## each fuzz target for FUZZTIME (default 10s) on its seed corpus
	bash .ci/fuzz-smoke.sh

db-start: ## start the private development Postgres (prints its URL)
	$(GO) run ./cmd/patientlink dev-db start

db-stop: ## stop the private development Postgres
	$(GO) run ./cmd/patientlink dev-db stop

bench: ## benchmark: throughput, latency, memory vs the pgbench ceiling (~11 min; BENCH_FLAGS=--quick for ~3): bench-results/, BENCHMARKS.md
	$(GO) run ./cmd/linkbench $(BENCH_FLAGS)

chaos: ## reliability suite, full profile (~14 min): real processes, kill -9, Postgres stop, outages
	$(GO) run ./cmd/chaos --profile full --report .data/chaos-report.md

chaos-ci: ## reliability suite, CI profile (scenarios 1, 2, 3, 6, 8; ~5 min)
	$(GO) run ./cmd/chaos --profile ci

soak: ## soak, not in CI (~35 min): 2 api + 2 workers at half the measured peak for 30 min, 5% index and receiver failures; report, samples and plot in .data/soak/ (SOAK_FLAGS=--duration 3m)
	$(GO) run ./cmd/soak $(SOAK_FLAGS)

ci: vet fmt-check compose-check verify lint test govulncheck fuzz-smoke chaos-ci ## every CI step, in order (.ci/run installs PostgreSQL, then runs this)
