# Gregor: a Kafka broker in Go, coordinated through ZooKeeper.
#
#   make run     build, start a single-node ZooKeeper and one broker on localhost:9092
#   make test    every test: unit tests with -race, fuzz seeds, integration tests
#   make bench   benchmarks (see docs/BENCHMARKS.md)
#   make lint    gofmt and go vet

GO        ?= go
BIN       := bin/gregor
PKGS      := ./...
DATA_DIR  ?= $(CURDIR)/data

.PHONY: all build test unit integration bench lint run cluster fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gregor

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd bench && $(GO) vet ./...

# All tests, with the race detector everywhere (every package has or will
# have concurrency). Fuzz targets run their seed corpus as plain tests here;
# `make fuzz` runs them for real.
test: lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	cd bench && $(GO) test -count=1 -timeout 10m ./...

# Each fuzz target for a short while; FUZZTIME=5m for a longer run.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# First the storage engine's figures: each benchmark next to a raw file
# baseline run in the same process, printed as the table of
# docs/BENCHMARKS.md (about a minute). Then every benchmark once, for
# benchstat; BENCHTIME=1x makes that a quick smoke run. Then one broker
# end to end (bench/, a module of its own): ZooKeeper and a broker built
# without -race as child processes, BENCH_RECORDS records of 1 KiB produced
# and consumed with franz-go (about 15 s for a million). Then three brokers
# (bench/cmd/replication): BENCH_RF_RECORDS records of 1 KiB with RF 3 and
# acks=all against RF 1 and acks=1, and BENCH_FAILOVER_TRIALS leader
# failovers (kill -9 of the leader; about 10 s each). -timeout bounds it.
# Then the group coordinator on three brokers (bench/cmd/groups): time for
# 10 members to become Stable, and OffsetCommit requests/s with 1 and 100
# partitions a request.
# Last, the side-by-side suite (bench/cmd/suite): Gregor with one and three
# brokers against kfake with one and three, the same franz-go workloads
# (BENCH_SUITE_RECORDS records per produce case), one table with the ratios
# and the targets of issue 6, also written to bin/bench-suite.json; it also
# compares the broker CPU per GB consumed with gregor.fetch.zero.copy on and
# off. BENCH_SUITE_FLAGS=-quick makes it a smoke run of about 15 s.
# Then the memory and scale figures (bench/cmd/scale): one broker holding
# BENCH_SCALE_MEM_BYTES over 1,000 partitions, its RSS after a fetch of
# every partition (issue 6 asks for 10 GiB: BENCH_SCALE_MEM_BYTES=10737418240
# takes about 2 min and writes 10 GiB to /tmp, removed at the end); then
# three brokers with BENCH_SCALE_PARTITIONS partitions at RF 3: creation,
# controller failover, controlled shutdown, clean restart and a restart
# after kill -9 with 1 GiB unflushed (about 2 min for 2,000 partitions; see
# docs/BENCHMARKS.md for why 10,000 at RF 3 exceeds the descriptor limit:
# the command raises RLIMIT_NOFILE to 100,000 for the brokers when it may).
BENCHTIME ?= 1s
BENCH_RECORDS ?= 1000000
BENCH_RF_RECORDS ?= 300000
BENCH_FAILOVER_TRIALS ?= 10
BENCH_SUITE_RECORDS ?= 2000000
BENCH_SUITE_FLAGS ?=
BENCH_SCALE_MEM_BYTES ?= 2147483648
BENCH_SCALE_PARTITIONS ?= 2000
bench:
	GREGOR_FIGURES=1 $(GO) test -run TestStorageFigures -v -count=1 ./logstore/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./logstore/ ./network/
	cd bench && $(GO) run ./cmd/produce-consume -src $(CURDIR) -records $(BENCH_RECORDS)
	cd bench && $(GO) run ./cmd/replication -src $(CURDIR) -records $(BENCH_RF_RECORDS) -trials $(BENCH_FAILOVER_TRIALS) -timeout 15m
	cd bench && $(GO) run ./cmd/groups -src $(CURDIR)
	cd bench && $(GO) run ./cmd/suite -src $(CURDIR) -records $(BENCH_SUITE_RECORDS) -json $(CURDIR)/bin/bench-suite.json -timeout 45m $(BENCH_SUITE_FLAGS)
	cd bench && $(GO) run ./cmd/scale -src $(CURDIR) -mem-bytes $(BENCH_SCALE_MEM_BYTES) -partitions $(BENCH_SCALE_PARTITIONS) -rf 3 -timeout 30m

run: build
	@scripts/run.sh "$(DATA_DIR)"

# Three brokers (localhost:9092-9094) on one ZooKeeper; data under DATA_DIR.
cluster: build
	@BROKERS=3 scripts/run.sh "$(DATA_DIR)"

clean:
	rm -rf bin
