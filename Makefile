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

# Benchmarks: the criterion benchmarks (SIP parsing against rsip, the cost of dropping a
# flood packet), then the call-setup comparison with Kamailio and Kamailio + rtpengine and
# the REGISTER comparison with Kamailio (benches/calls/run.sh, benches/register/run.sh:
# they need root, run SIPp, Palisade, Kamailio and rtpengine inside a network namespace of
# their own, and write docs/benchmarks.md), and the
# media relay comparison with rtpengine and a bare forwarder (benches/media/run.sh, the
# same way).
# `make bench QUICK=1`: a short run of each, a few minutes; docs/benchmarks.md is left as is.
QUICK ?= 0
bench:
	scripts/install-deps.sh
ifeq ($(QUICK),1)
	$(CARGO) bench -p palisade-benches --bench sip_parse -- --quick
	$(CARGO) bench -p palisade-benches --bench guard_drop -- --quick
else
	$(CARGO) bench -p palisade-benches
endif
	QUICK=$(QUICK) CARGO=$(CARGO) benches/calls/run.sh
	QUICK=$(QUICK) CARGO=$(CARGO) benches/register/run.sh
	QUICK=$(QUICK) CARGO=$(CARGO) benches/media/run.sh

demo:
	scripts/demo.sh

clean:
	$(CARGO) clean
