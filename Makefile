# Every build and test uses the slicelabels tag: labelpb's conversions to
# labels.Labels are only valid with it (see pkg/store/slicelabels_required.go).
GO         ?= go
TAGS       := slicelabels
GOFLAGS_T  := -tags $(TAGS)
PROM_VER   := 3.9.1
TOOL_LDFLAGS := -X github.com/prometheus/common/version.Version=$(PROM_VER)
TEST_TIMEOUT ?= 20m
VERSION    := $(shell cat VERSION)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS    := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(shell git rev-parse --short HEAD 2>/dev/null) -X $(VERSION_PKG).Branch=$(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)

# The packages whose goroutines share state, run again under the race
# detector (which needs cgo, so a C compiler) by `make test-race`.
RACE_PKGS  := ./pkg/readahead/ ./pkg/store/... ./pkg/dedup/ ./pkg/discovery/ ./pkg/query/ ./pkg/api/ ./pkg/fanout/ ./pkg/engine/ ./pkg/remote/ ./pkg/queryapi/

FUZZTIME   ?= 30s
# Each fuzz target, as package:Name; their seed corpora are committed
# under the package's testdata/fuzz.
FUZZ_TARGETS := ./pkg/api:FuzzAPIParams ./pkg/store:FuzzProxyServerSeries ./pkg/store:FuzzSeriesResponseDecode ./pkg/store/prometheus:FuzzFrameReader ./pkg/store/prometheus:FuzzFrameDecoder ./pkg/store/prometheus:FuzzSidecarSeries ./pkg/store/prometheus:FuzzSeriesDecoder ./pkg/store/prometheus:FuzzCut ./pkg/chunkcheck:FuzzCheck ./pkg/dedup:FuzzMerge ./pkg/xorchunk:FuzzDecode ./pkg/engine:FuzzPlan

.PHONY: all build test test-race bench tools lint clean fuzz

all: build

build:
	$(GO) build $(GOFLAGS_T) -ldflags "$(LDFLAGS)" -o bin/tandem ./cmd/tandem
	$(GO) build $(GOFLAGS_T) -o bin/demo ./cmd/demo

# Two Prometheus replicas with generated history, their sidecars and a query,
# on fixed loopback ports (see README, Quickstart). Ctrl-C stops them all.
# DEMO_FLAGS passes flags, e.g. DEMO_FLAGS=--history=2h; see bin/demo --help.
# Of the tools it needs only Prometheus and promtool, not Thanos.
.PHONY: demo
demo: bin/prometheus bin/promtool build
	./bin/demo $(DEMO_FLAGS)

# Real Prometheus and promtool, built from the pinned module in tools/go.mod.
tools: bin/prometheus bin/promtool bin/thanos

bin/prometheus: tools/go.mod tools/go.sum
	$(GO) build -modfile=tools/go.mod -ldflags "$(TOOL_LDFLAGS)" -o $@ github.com/prometheus/prometheus/cmd/prometheus

bin/promtool: tools/go.mod tools/go.sum
	$(GO) build -modfile=tools/go.mod -ldflags "$(TOOL_LDFLAGS)" -o $@ github.com/prometheus/prometheus/cmd/promtool

# Thanos, built from its pinned module, only to prove that Thanos's querier
# and sidecar interoperate with ours.
bin/thanos: tools/thanos/go.mod tools/thanos/go.sum
	$(GO) build -modfile=tools/thanos/go.mod -tags slicelabels -o $@ github.com/thanos-io/thanos/cmd/thanos

test: tools build ui-check ui-browser
	$(GO) vet $(GOFLAGS_T) ./...
	$(GO) test $(GOFLAGS_T) -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) test-race
	$(MAKE) fuzz

# The race detector over RACE_PKGS, and the query once more on one CPU,
# where it reads no series ahead: its own tests, and a query over queries,
# whose engines then seek each series themselves (GOMAXPROCS reaches the
# processes the test starts).
test-race:
	@command -v gcc >/dev/null || \
	if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y gcc; \
	else echo "gcc is missing (the race detector needs cgo): run 'sudo apt-get install -y gcc'" >&2; exit 1; fi
	CGO_ENABLED=1 $(GO) test $(GOFLAGS_T) -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)
	$(GO) test $(GOFLAGS_T) -count=1 -cpu 1 ./pkg/query/
	GOMAXPROCS=1 $(GO) test $(GOFLAGS_T) -count=1 -run '^TestDistributedQueriesAnswerAsOneQuery$$' ./e2e/

# Runs every fuzz target for FUZZTIME; part of `make test`. On a busy
# machine Go 1.26's fuzzing coordinator can fail a target with a bare
# "context deadline exceeded" as FUZZTIME ends (go.dev/issue/75804, fixed in
# Go 1.27); a run that fails so, with no failing input written, runs once more.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		for attempt in 1 2; do \
			echo "fuzz $${t#*:} for $(FUZZTIME)"; \
			rc=0; $(GO) test $(GOFLAGS_T) -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s "$${t%%:*}" >"$$log" 2>&1 || rc=$$?; \
			cat "$$log"; \
			[ $$rc -eq 0 ] && break; \
			if [ $$attempt -eq 1 ] && grep -q 'context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
				echo "fuzz $${t#*:}: the fuzzing coordinator stopped late, with no failing input (go.dev/issue/75804): once more"; \
				continue; \
			fi; \
			exit $$rc; \
		done; \
	done

# The query's web UI (pkg/ui). Its bundle, pkg/ui/dist, is committed so
# `go build` needs no npm; `make ui` rebuilds it from pkg/ui/web.
UI_DIR  := pkg/ui
UI_DEPS := $(UI_DIR)/node_modules/.package-lock.json
.PHONY: ui ui-check ui-browser

# npm rewrites node_modules/.package-lock.json on every install, so npm ci
# runs only when the lockfile is newer; --prefer-offline takes the packages
# from npm's cache when they are there.
$(UI_DEPS): $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	cd $(UI_DIR) && npm ci --prefer-offline --no-audit --no-fund

ui: $(UI_DEPS)
	cd $(UI_DIR) && node build.mjs dist

# Fails when the committed bundle is not byte-for-byte what the sources build.
ui-check: $(UI_DEPS)
	cd $(UI_DIR) && node build.mjs --check dist

# The browser pkg/ui's tests drive (or UI_CHROMIUM, a Chromium or Chrome).
ui-browser:
	@command -v chromium >/dev/null || [ -n "$$UI_CHROMIUM" ] || \
	if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	else echo "chromium is missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi

# The Go micro-benchmarks, then cmd/bench end to end over real processes
# (README, Performance). BENCH_SERIES is the counter series per replica;
# BENCH_FLAGS passes more flags (go run -tags slicelabels ./cmd/bench --help).
# Generated blocks stay cached under .bench/data.
BENCH_SERIES ?= 2000
BENCH_FLAGS  ?=
bench: tools build
	@mkdir -p .bench
	@{ $(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchmem -timeout 30m ./...; echo $$? > .bench/micro.rc; } | tee .bench/micro.txt
	@exit $$(cat .bench/micro.rc)
	$(GO) run $(GOFLAGS_T) ./cmd/bench --series=$(BENCH_SERIES) --micro-results=.bench/micro.txt \
		--command="$(strip make bench BENCH_SERIES=$(BENCH_SERIES) $(BENCH_FLAGS))" $(BENCH_FLAGS)

lint:
	$(GO) vet $(GOFLAGS_T) ./...
	$(GO) tool -modfile=tools/go.mod staticcheck -tags $(TAGS) ./...

clean:
	rm -rf bin
