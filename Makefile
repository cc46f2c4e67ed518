# dive: the two commands the README names are `make demo` and `make test`.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/dive-hub/dive/internal/cli.Version=$(VERSION)
BIN       := bin/dive
export CGO_ENABLED := 0

.PHONY: build demo test unit check bench dist clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/dive

# Deploy the embedded demo hub on this machine (installs/starts Docker when needed).
demo: build
	./scripts/docker-up.sh
	./$(BIN) hub deploy --demo

# The whole test suite against the real Docker daemon.
test:
	./scripts/test.sh

# Unit tests only (no daemon needed).
unit:
	$(GO) test -count=1 -short ./...

# gofmt, go vet and staticcheck (pinned in scripts/lint.sh); also run by `make test`.
check:
	./scripts/lint.sh

bench: build
	./scripts/bench.sh

# Linux builds of dive for running it elsewhere (the stand-in image needs a linux binary).
dist:
	GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/dive-linux-amd64 ./cmd/dive
	GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/dive-linux-arm64 ./cmd/dive
	GOOS=darwin GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/dive-darwin-arm64 ./cmd/dive

clean:
	rm -rf bin dist
