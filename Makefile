# gslb: `make run` serves the example zones; `make test` is what CI runs.
GO  ?= go
MOD := $(shell $(GO) list -m)
DEMO_DB := docs/examples/demo-city.mmdb

.PHONY: build test bench lint fuzz run check demo-db clean

build:
	$(GO) build -trimpath -o bin/gslb ./cmd/gslb

# What CI runs (.ci/run calls make test).
test:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./dns/ ./zones/ ./geo/

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzLoadZone -fuzztime=60s -fuzzminimizetime=2s ./zones/

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
