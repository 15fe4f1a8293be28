# Entry points a new user needs; everything else is plain CMake presets.
#   make demo   install dependencies, build (release), run the examples
#   make test   install dependencies, build (dev and asan), run every test
#   make fidelity  nfemu verify on every test scenario: agree with the kernel? (root;
#                  the same runs as `ctest -L verify`, as one report)
JOBS ?= $(shell nproc)

.PHONY: deps build release asan demo test test-dev test-asan fuzz fidelity clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)

release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)

demo: release
	./scripts/demo.sh build/release

# Kernel-backed tests share the kernel log and conntrack event streams:
# they run one at a time, after the rest. They include the verify corpus
# (one verify_NAME per tests/scenarios/NAME: the kernel against nfemu,
# tests/scenarios/KNOWN-DIFFERENCES applied); each says SKIPPED when not
# root or without network namespaces. A known difference passes, and CTest
# hides the output of passing tests: its KNOWN DIFFERENCE lines are
# repeated from the log at the end.
test-dev: build
	ctest --preset dev -j $(JOBS) -LE kernel
	ctest --preset dev -L kernel; rc=$$?; \
	  grep -h '^KNOWN DIFFERENCE' build/dev/Testing/Temporary/LastTest.log || true; exit $$rc

test-asan: asan
	ctest --preset asan -j $(JOBS) -LE kernel

# The emulator against the real kernel, scenario by scenario (needs root).
fidelity: build
	./scripts/fidelity.sh build/dev

fuzz: deps
	./scripts/run-fuzzers.sh

test: test-dev test-asan fuzz

clean:
	rm -rf build
