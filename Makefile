# gslb: `make run` serves the example zones; `make test` is what CI runs.
GO  ?= go
MOD := $(shell $(GO) list -m)
DEMO_DB := docs/examples/demo-city.mmdb

.PHONY: build test bench lint fuzz run check demo-db clean

build:
	$(GO) build -trimpath -o bin/gslb ./cmd/gslb

# What CI runs (.ci/run calls make test).
test:
	$(GO) test -race -count=1 -parallel 8 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./dns/ ./zones/ ./geo/

# fuzz: each fuzz target for FUZZTIME; make test replays their seed corpora
# (testdata/fuzz/) without fuzzing. Crashers land in testdata/fuzz/ too.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzServeDNS$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./dns/
	$(GO) test -run='^$$' -fuzz='^FuzzECS$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./dns/
	$(GO) test -run='^$$' -fuzz='^FuzzFastPath$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./dns/
	$(GO) test -run='^$$' -fuzz='^FuzzLoadZone$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./zones/

# soak: dnsperf against bin/gslb for SOAK_MINUTES while a zone file is
# rewritten every second and a health target flaps; passes with no query
# lost, no goroutine growth and RSS within 10%. Not part of make test;
# docs/hardening.md has the last run. SOAK_FLAGS='-qps 10000' for more.
SOAK_MINUTES ?= 2
.PHONY: soak
soak: build
	GO=$(GO) SOAK_FLAGS='$(SOAK_FLAGS)' tools/soak/soak.sh $(SOAK_MINUTES)

lint:
	test -z "$$(gofmt -l .)"
	$(GO) vet ./...
	! $(GO) list -deps ./zones/ ./health/ ./geo/ | grep -qx '$(MOD)/dns'
	! $(GO) list -deps ./health/ ./geo/ | grep -qx '$(MOD)/zones'

# The demo GeoIP database is generated from a small source file in the repo.
$(DEMO_DB): docs/examples/demo-geo.toml
	$(GO) run ./tools/mkgeodb -in docs/examples/demo-geo.toml -out $(DEMO_DB)

demo-db: $(DEMO_DB)

run: build $(DEMO_DB)
	./bin/gslb serve --zones docs/examples/zones --listen 127.0.0.1:5353 --http 127.0.0.1:8053 --geoip $(DEMO_DB)

check: build
	./bin/gslb check docs/examples/zones

clean:
	rm -rf bin

# ---- load and scale benchmarks (not part of make test) ---------------------
# docs/performance.md explains the method and holds the last figures.
# bench-load: gslb beside gdnsd 3.8.1 under dnsperf, ~12 minutes. Extra
# harness flags go in BENCH_FLAGS, e.g. BENCH_FLAGS='-rounds 1 -workloads rr'.
BENCH_OUT ?= bench/out
BENCH_FLAGS ?=

.PHONY: bench-load bench-pairs gen-scale bench-reload

bench-load: $(DEMO_DB)
	bench/install-deps.sh
	$(MAKE) build
	bench/genqueries.sh $(BENCH_OUT)/queries
	$(GO) build -o $(BENCH_OUT)/harness ./bench/harness
	$(BENCH_OUT)/harness load -gslb bin/gslb -queries $(BENCH_OUT)/queries -out $(BENCH_OUT) $(BENCH_FLAGS)

# bench-pairs: both servers up at once, their fixed-rate runs alternated
# (PAIRS per workload and rate, default 6): CPU per query compared run
# against run seconds apart, steadier than rounds on a shared VM. ~8 min.
PAIRS ?= 6
bench-pairs: $(DEMO_DB)
	bench/install-deps.sh
	$(MAKE) build
	bench/genqueries.sh $(BENCH_OUT)/queries
	$(GO) build -o $(BENCH_OUT)/harness ./bench/harness
	$(BENCH_OUT)/harness load -gslb bin/gslb -queries $(BENCH_OUT)/queries -out $(BENCH_OUT) -rounds 0 -pairs $(PAIRS) -workloads rr,weighted,geo $(BENCH_FLAGS)

# gen-scale: 100,000 names with 10,000 pools; times `gslb check` and
# `gslb serve` start-up on them and reports their memory.
gen-scale: build
	$(GO) run ./bench/genzones -names 100000 -pools 10000 -out $(BENCH_OUT)/scale-zones
	$(GO) build -o $(BENCH_OUT)/harness ./bench/harness
	$(BENCH_OUT)/harness scale -gslb bin/gslb -zones $(BENCH_OUT)/scale-zones

# bench-reload: the gen-scale set served under a fixed dnsperf load (20k
# qps), first without reloads, then with three full reloads; prints lost
# queries and latency percentiles of both runs. About 2 minutes.
bench-reload: build
	bench/install-deps.sh
	$(GO) run ./bench/genzones -names 100000 -pools 10000 -out $(BENCH_OUT)/scale-zones
	$(GO) build -o $(BENCH_OUT)/harness ./bench/harness
	$(BENCH_OUT)/harness reload -gslb bin/gslb -zones $(BENCH_OUT)/scale-zones -out $(BENCH_OUT) $(BENCH_FLAGS)
