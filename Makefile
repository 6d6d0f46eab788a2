# Razor MK — build, test, benchmark and demo.
# `make test` and `make demo` install the Debian packages they need first
# (scripts/deps.sh; as root it uses apt-get, otherwise it prints the command).

GO      ?= go
BIN     ?= bin
PKG     := github.com/razor-mk/razor-mk
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
# The agent and the tools are static, cgo-free binaries.
export CGO_ENABLED ?= 0
# Test timeout for the whole suite, QEMU boots included.
TEST_TIMEOUT ?= 25m

PROGRAMS := mkbuild razor-netboot mk-agent

.PHONY: all build deps test unit e2e bench demo lint clean deb dist $(PROGRAMS)

all: build

build: $(PROGRAMS)

$(PROGRAMS):
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$@ ./cmd/$@

deps:
	@bash scripts/deps.sh

# The Debian package (dpkg-deb) in out/deb: static binaries, prebuilt
# agents for mkbuild, razor-netboot.service, /etc/razor/razor-netboot.yaml.
# Check it with: lintian out/deb/*.deb
deb:
	GO=$(GO) VERSION=$(VERSION) COMMIT=$(COMMIT) bash packaging/build.sh deb out/deb

# Release tarballs for linux amd64 and arm64, with SHA256SUMS, in out/dist.
dist:
	GO=$(GO) VERSION=$(VERSION) COMMIT=$(COMMIT) bash packaging/build.sh dist out/dist

# The full suite: lint, unit tests, fuzz seeds, and the QEMU/network tests
# (which need root, /dev/net/tun and QEMU; they skip with a reason elsewhere).
test: deps lint build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -tags dev ./agent/devssh/ ./cmd/mk-agent/

# Only the end-to-end QEMU tests.
e2e: deps build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./e2e/...

bench: deps build
	bash scripts/bench.sh

demo: deps build
	bash scripts/demo.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) vet -tags dev ./agent/devssh/ ./cmd/mk-agent/

clean:
	rm -rf $(BIN) out .cache
