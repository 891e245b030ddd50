# Coffer's interface: CI runs these same targets.
GO      ?= go
BIN     := bin/coffer
PKGS    := ./...
UNIT    := $(shell $(GO) list ./... 2>/dev/null | grep -v /integration)

.PHONY: all build run cluster chaos scale loadtest test test-unit test-integration lint fmt vet bench fuzz deps clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/coffer

## run: a dev node on 127.0.0.1:8200 with Raft storage in a temp dir,
## initialised and unsealed; the root token is printed.
run: build
	./$(BIN) server -dev

## cluster: three nodes on loopback (deploy/cluster), initialised, joined
## and unsealed; `scripts/cluster stop` stops them.
cluster: build
	./scripts/cluster start

## chaos: the linearizability check under leader kills and pauses, for minutes.
chaos:
	COFFER_CHAOS=1 $(GO) test -count=1 -timeout 30m -run 'Linearizab' -v ./integration/...

## scale: 100,000 leases expiring across a minute: issue rate, KV read
## latency during the revocation wave, unseal time (see BENCHMARKS.md).
scale:
	COFFER_SCALE=100000 $(GO) test -count=1 -run LeaseScale -v -timeout 20m ./bench/

## loadtest: the over-the-wire figures of BENCHMARKS.md: coffer bench against
## one node, one node with a file audit device, and three nodes.
loadtest: build
	./scripts/loadtest single
	./scripts/loadtest single audit
	./scripts/loadtest cluster

## test: unit tests (with the race detector) then process-level integration tests.
test: deps test-unit test-integration

# The HSM and PostgreSQL tests fail (rather than skip) when SoftHSM2 or
# PostgreSQL is missing: install-deps puts them there.
test-unit:
	COFFER_REQUIRE_HSM=1 COFFER_REQUIRE_POSTGRES=1 $(GO) test -race -count=1 -timeout 10m $(UNIT)

test-integration:
	COFFER_REQUIRE_HSM=1 COFFER_REQUIRE_POSTGRES=1 $(GO) test -count=1 -timeout 12m ./integration/...

deps:
	./scripts/install-deps

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: Go benchmarks of every layer (barrier, FSM ApplyBatch, Raft commit,
## ACL, token lookup, audit formatting, KV records, JSON, the whole HTTP read and
## write path in process), with -benchmem, in benchstat's input format:
## `make bench BENCH_COUNT=6 > old.txt`, change, `> new.txt`, then
## `benchstat old.txt new.txt`. BENCH_FILTER narrows it (a -bench regexp).
BENCH_COUNT  ?= 1
BENCH_TIME   ?= 1s
BENCH_FILTER ?= .
BENCH_PKGS   := ./seal/ ./fsm/ ./cluster/ ./engines/policy/ ./engines/token/ ./engines/kv/ ./engines/jsonobj/ ./audit/ ./bench/
bench:
	@$(GO) test -run '^$$' -bench '$(BENCH_FILTER)' -benchmem -count $(BENCH_COUNT) -benchtime $(BENCH_TIME) $(BENCH_PKGS)

## fuzz: every fuzz target in the module, each for FUZZTIME.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
