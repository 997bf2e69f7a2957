# vifd — quick start: `make demo` and `make test` (as root on Debian 12; both idempotent).

CARGO ?= cargo
# Cargo's target directory: CARGO_TARGET_DIR when set (as cargo itself reads it), else
# target/. Every path below goes through it; the packaging and bench scripts read it too.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
VIFD       := $(TARGET_DIR)/release/vifd

.PHONY: all deps services venv build demo test lint unit fuzz soak bench bench-serve bench-watch bench-change bench-identity bench-ovn bench-metrics bench-query bench-actions bench-recovery bench-fleet bench-inflight deb rpm clean-demo

all: build

## Debian packages vifd builds and tests against (installed only when missing).
deps:
	bash scripts/install-deps.sh

## libvirtd + virtlogd for the real-hypervisor tests (started only when not running).
services: deps
	bash scripts/start-libvirtd.sh

build: deps
	$(CARGO) build --release --locked

## Builds the demo host (namespace vifd-demo + test-driver node file) and shows it.
demo: build
	$(VIFD) demo

clean-demo:
	$(VIFD) demo --clean

## The Python tools the tests drive against a real daemon (the API fuzzer schemathesis and
## openapi-spec-validator, pinned), in a venv of their own under the target directory.
VENV     := $(TARGET_DIR)/venv
PY_TOOLS := schemathesis==4.32.5 openapi-spec-validator==0.9.0

venv: $(VENV)/.installed

$(VENV)/.installed: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

## Every test: formatting, lints, unit, namespace, test-driver and real-libvirtd tests.
test: services lint venv
	TEST_PY_VENV=$(abspath $(VENV)) $(CARGO) test --locked --all-targets

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## Every test binary that needs neither root nor libvirtd (checked by running each as
## nobody); ovsdb_client starts its own ovsdb-server, so Open vSwitch must be installed.
UNIT_TESTS := actions_cli api_router api_watch config_check correlation correlation_incremental datapath \
	fuzz_regressions identity identity_config layering logging nova_schemas openapi_contract ovn_correlation ovsdb_client \
	xml_parsing

unit:
	$(CARGO) test --locked --lib $(addprefix --test ,$(UNIT_TESTS))

## Every fuzz target of fuzz/ for FUZZ_SECS seconds each (cargo-fuzz, no sanitizer, so stable
## Rust; cargo-fuzz is installed when missing); fails on a crash or a hang. See fuzz/run.sh.
FUZZ_SECS       ?= 60
FUZZ_TARGET_DIR ?= $(abspath $(TARGET_DIR))/fuzz-engine

fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	FUZZ_TARGET_DIR=$(FUZZ_TARGET_DIR) bash fuzz/run.sh $(FUZZ_SECS)

## The soak of tests/soak.rs for SOAK_MIN minutes: two real daemons (real libvirtd,
## ovsdb-server and etcd; the 1000 x 4 test-driver host) under churn, then served state
## equal to a fresh list, no 5xx, no panic, and RSS, fds, threads growth per hour (the
## table on stderr). `make test` runs the same test for 2 minutes (debug build); this
## one runs the release build, as shipped (SOAK_PROFILE= for the debug one).
SOAK_MIN ?= 30
SOAK_PROFILE ?= --release

soak: services
	SOAK_MIN=$(SOAK_MIN) $(CARGO) test --locked $(SOAK_PROFILE) --test soak -- --nocapture

## The scale benchmark of BENCHMARKS.md.
bench: build
	bash bench/scale.sh 1000 4

## The HTTP benchmark of `vifd serve` (wrk on the 1000 x 4 scale fixture).
bench-serve: build
	bash bench/serve.sh 1000 4

## The live-state benchmark of `vifd serve` (/v1/watch latency, idle CPU, 5,000-tap burst;
## real libvirtd hot-plugs too, LIBVIRT=0 skips them).
bench-watch: build services
	bash bench/watch.sh 1000 4

## The per-change cost of `vifd serve`: daemon CPU per single-tap change at 1000 x 4 and
## 10 x 4 (utime+stime, idle-corrected).
bench-change: build
	bash bench/change_cost.sh

## The identity benchmark: `vifd list` with the ovsdb resolver on vs off, OVSDB round trips.
bench-identity: build
	bash bench/identity.sh 1000 4

## The OVN benchmark: `vifd list` with the ovn resolver on vs off against a Southbound of
## 4,000 local + 36,000 foreign ports (written directly), SB round trips, daemon RSS.
bench-ovn: build
	bash bench/ovn.sh 1000 4

## The actions benchmark: interface attach through the API vs virsh, 100 IP allocations
## (real libvirtd).
bench-actions: build services
	bash bench/actions.sh

## The /metrics benchmark: render time of the OpenMetrics exposition at 4,000 VIFs.
bench-metrics: build
	bash bench/metrics.sh 1000 4

## The fan-out benchmark: `vifd query` over 100 local agents, one of them hanging.
bench-query: build
	bash bench/query.sh 100

## The recovery benchmark: what an unanswered guest agent costs `vifd list`, and how soon
## `vifd serve` is exact again after a libvirtd restart (real libvirtd, which it restarts).
bench-recovery: build services
	bash bench/recovery.sh

## The fleet benchmark: the real publisher of 10,000 simulated hosts x 40 records against
## a local etcd (data on tmpfs), read by `vifd fleet serve` (QUICK=1: 500 hosts).
bench-fleet: build
	bash bench/fleet.sh

## The memory-in-flight benchmark: how far `vifd serve`'s RSS swings on the 1000 x 4 host
## under the soak's churn (BASELINE=another vifd binary to compare with, in the same run).
bench-inflight: build
	bash bench/inflight.sh

## The Debian package ($(TARGET_DIR)/debian/vifd_<version>_<arch>.deb).
deb: build
	bash packaging/deb/build.sh

## The RPM, where rpmbuild exists (packaging/rpm/vifd.spec).
rpm: build
	bash packaging/rpm/build.sh
