# Makefile — thin wrappers; the build itself is CMake (CMakeLists.txt).
#
#   make demo    install what the native build needs, build, run examples/heap_demo and then
#                examples/daemon_demo (3 s; DEMO_SECONDS=n to change)
#   make test    the full test matrix, x86_64, and aarch64 and armhf under qemu (scripts/test.sh)
#   make bench   install the peer allocators, run the benchmarks (bench/run.sh; e.g.
#                BENCH_ONLY=suite BENCH_PRESET=quick make bench for the allocator suite alone)
#   make clean   remove build/
SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
JOBS ?= 2
DEMO_SECONDS ?= 3
DEMO_DIR := build/demo

.PHONY: all demo test bench clean

all: demo

demo:
	scripts/deps.sh native
	cmake -S . -B $(DEMO_DIR) -DCMAKE_BUILD_TYPE=Release -DTALC_BUILD_TESTS=OFF
	cmake --build $(DEMO_DIR) -j $(JOBS) --target heap_demo daemon_demo
	$(DEMO_DIR)/examples/heap_demo
	@echo
	$(DEMO_DIR)/examples/daemon_demo $(DEMO_SECONDS)

test:
	JOBS=$(JOBS) bash scripts/test.sh

bench:
	scripts/deps.sh native
	scripts/deps.sh bench
	@test -f bench/run.sh || { echo "bench/run.sh does not exist yet" >&2; exit 1; }
	bash bench/run.sh

clean:
	rm -rf build
