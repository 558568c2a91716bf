# The two commands a newcomer needs:
#   make run    start authd on http://localhost:8000 (local PostgreSQL and dev keys if needed)
#   make test   run the whole test suite against a real, throwaway PostgreSQL

GO      ?= go
SQLC    ?= sqlc
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run test build generate sqlc-diff lint db-stop clean bench mailpit

run:
	@scripts/dev.sh

test:
	$(GO) test -race -count=1 ./...

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/authd ./cmd/authd

generate:
	$(SQLC) generate

sqlc-diff:
	$(SQLC) diff

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Throwaway PostgreSQL + authd with production settings, every load scenario,
# results in docs/benchmarks.md (bench/cmd/benchrun; settings in bench/README.md).
# Never part of make test. BENCH_DURATION=3s for a quick look.
bench:
	@mkdir -p bin && cd bench && $(GO) build -o ../bin/benchrun ./cmd/benchrun
	@bin/benchrun

# Installs Mailpit (SMTP catcher with a web inbox) in .dev/bin, where make run
# finds it; about 2 minutes the first time.
mailpit:
	GOBIN=$(CURDIR)/.dev/bin $(GO) install github.com/axllent/mailpit@v1.33.1

# Stops the development PostgreSQL cluster of make run (.dev/pg).
db-stop:
	@$(GO) run ./scripts/devdb stop

clean:
	rm -rf bin
