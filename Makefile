# docker-eventsd. `make test` is the one test command (see hack/test.sh).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

GO ?= go
BIN := bin/docker-eventsd
# Extra arguments for hack/test.sh, e.g. make test ARGS='-run TestFoo -v'
ARGS ?=

.PHONY: all build test vet fmt engines-up engines-down demo image clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/docker-eventsd

# gofmt + go vet + two throwaway engines + go test -race ./...; engines always removed.
test:
	hack/test.sh $(ARGS)

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(find . -name '*.go' -not -path './.git/*' -not -path './vendor/*' -not -path '*/testdata/*')

# Two engines for running tests by hand: then `set -a; . /tmp/eventsd-engines/env; set +a`.
engines-up:
	hack/engines.sh up 2

engines-down:
	hack/engines.sh down

demo: build
	hack/demo.sh

# The container image (hack/image.sh), offline, on the engine of DOCKER_HOST.
image:
	hack/image.sh

clean:
	rm -rf bin

# Benchmarks (docs/BENCHMARKS.md): the real binary on fake engines, and a
# throwaway real engine y for P1/P5, always removed. make bench ARGS='-run p2'
.PHONY: bench bench-smoke
bench:
	hack/bench.sh $(ARGS)

# The benchmark harness at tiny sizes, in process, on fake engines, and the
# fake engine's and the fault proxy's own tests: seconds, asserts nothing
# about speed.
bench-smoke:
	$(GO) test -count=1 ./test/bench/... ./internal/fakeengine/... ./internal/faultproxy/
