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

# The protocol core, the B2BUA and the fraud policy are sans-IO: no tokio in their dependency trees, no
# sockets and no clock reads in their code (tests may read the clock to drive them).
SANS_IO := palisade-sip palisade-b2bua palisade-fraud palisade-guard
check-core:
	@for c in $(SANS_IO); do \
		if $(CARGO) tree -p $$c -e normal --prefix none | grep -E '^(tokio|mio|socket2)( |$$)'; then \
			echo "$$c must not depend on an IO runtime"; exit 1; fi; \
	done
	@if grep -rnE --exclude-dir=tests 'Instant::now|SystemTime::now|std::net::(Udp|Tcp)|std::thread::sleep' crates/sip/src crates/b2bua/src crates/fraud/src crates/guard/src; then \
		echo "the sans-IO crates must not read the clock or open sockets"; exit 1; fi
	@echo "sans-IO check passed: $(SANS_IO)"

fuzz-smoke:
	scripts/fuzz-smoke.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Benchmarks: every comparison of Palisade with the peers (rsip, Kamailio, Kamailio +
# rtpengine, rtpengine, a bare forwarder) under the same load in the same run, then one
# report: docs/benchmarks.md and its charts (benches/run.sh says what runs), and Palisade
# alone: an hour of call churn (benches/endurance) and its memory per registration and per
# call (benches/scale). They need root: every part runs inside a network namespace of its
# own.
# `make bench QUICK=1`: the same, shorter (under 10 minutes after the build, 5 of them the
# endurance part); the report goes to target/bench/ and docs/benchmarks.md is left as is
# (unless DOCS=1).
QUICK ?= 0
bench:
	QUICK=$(QUICK) CARGO=$(CARGO) benches/run.sh

demo:
	scripts/demo.sh

clean:
	$(CARGO) clean
