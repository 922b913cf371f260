# Palisade: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
CARGO ?= cargo
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := parse roundtrip framing sdp transaction

.PHONY: build deps test lint check-core fuzz-smoke bench demo clean

build:
	$(CARGO) build --workspace --release

# Installs the peer programs the end-to-end tests run (SIPp, Kamailio, tshark, ...).
deps:
	scripts/install-deps.sh

# Builds, then runs every test inside a network namespace of its own (see scripts/test.sh).
test: lint
	CARGO=$(CARGO) scripts/test.sh

lint: check-core
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The protocol core is sans-IO: no tokio in its dependency tree, no sockets and no clock
# reads in its code.
check-core:
	@if $(CARGO) tree -p palisade-sip -e normal --prefix none | grep -E '^(tokio|mio|socket2)( |$$)'; then \
		echo "palisade-sip must not depend on an IO runtime"; exit 1; fi
	@if grep -rnE 'Instant::now|SystemTime::now|std::net::(Udp|Tcp)|std::thread::sleep' crates/sip/src; then \
		echo "palisade-sip must not read the clock or open sockets"; exit 1; fi
	@echo "palisade-sip: sans-IO check passed"

fuzz-smoke:
	scripts/fuzz-smoke.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench:
	$(CARGO) bench -p palisade-benches

demo:
	scripts/demo.sh

clean:
	$(CARGO) clean
