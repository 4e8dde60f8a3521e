# docker-eventsd. `make test` is the one test command (see hack/test.sh).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

GO ?= go
BIN := bin/docker-eventsd
# Extra arguments for hack/test.sh, e.g. make test ARGS='-run TestFoo -v'
ARGS ?=

.PHONY: all build test vet fmt engines-up engines-down demo clean

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

clean:
	rm -rf bin
