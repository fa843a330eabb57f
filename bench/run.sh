#!/usr/bin/env bash
# bench/run.sh — configure, build and run the benchmarks (heap engine, then arenas), print the
# summary, then run the allocator suite (bench/suite/run.sh: LD_PRELOADed peers vs libtalc).
#
#   bash bench/run.sh [talc_bench options...]        (what `make bench` runs)
#
# Environment:
#   BENCH_PRESET      quick (default; ~2 minutes) | full (Talc's parameters; ~4 minutes); the
#                     suite's presets have the same names (~2 and < 20 minutes)
#   BENCH_ONLY        engine (talc_bench only) | suite (the allocator suite only); default both.
#                     The suite's own knobs (SUITE_*) are listed in bench/suite/run.sh
#   BENCH_OUT         results directory (default bench/results)
#   BENCH_BUILD_DIR   build directory (default build/bench)
#   BENCH_SEED        base seed (default fixed in talc_bench: runs are deterministic)
#   BENCH_WORKLOADS   comma list: random_actions,random_actions_no_realloc,heap_efficiency,
#                     microbench,high_alignment,arena_thread_local,arena_producer_consumer
#                     (default all)
#   BENCH_ALLOCATORS  comma list: talc,talc-inplace,talc-locked,talc-nocounters,glibc,mimalloc-heap,
#                     jemalloc-arena (heap workloads); talc-arena,talc-arena-pt,
#                     talc-nocounters-arena,talc-nocounters-arena-pt,jemalloc-arena,
#                     jemalloc-shared,jemalloc-arena-tcache,mimalloc-heap,glibc (arena
#                     workloads); default all available, plus the opt-in "null" floor
#   BENCH_VARIANT_DEFS / BENCH_VARIANT_NAME
#                     definitions and name of the second library copy (default
#                     "TALC_COUNTERS=0" / "talc-nocounters"; its arena allocators are
#                     <name>-arena and <name>-arena-pt), e.g.
#                     BENCH_VARIANT_DEFS="TALC_BEST_FIT_SCAN=1" BENCH_VARIANT_NAME=talc-fit1
#   BENCH_ARENA_STRIPES
#                     experiment knob: stripes of our shared arena (default 0 = auto)
# Progress goes to stderr, one line per step; the Markdown summary to stdout and to
# $BENCH_OUT/summary.md; the records to $BENCH_OUT/*.json (bench/README.md describes them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=${BENCH_PRESET:-quick}
build=${BENCH_BUILD_DIR:-$root/build/bench}
out=${BENCH_OUT:-$root/bench/results}
variant_defs=${BENCH_VARIANT_DEFS:-TALC_COUNTERS=0}
variant_name=${BENCH_VARIANT_NAME:-talc-nocounters}

step() { printf '[run.sh] %s\n' "$*" >&2; }

case $preset in
  quick | full) ;;
  *) echo "run.sh: BENCH_PRESET must be quick or full, not '$preset'" >&2; exit 2 ;;
esac
case ${BENCH_ONLY:-} in
  '' | engine) ;;
  suite) exec bash "$root/bench/suite/run.sh" ;;
  *) echo "run.sh: BENCH_ONLY must be engine or suite, not '$BENCH_ONLY'" >&2; exit 2 ;;
esac

# The revision measured: HEAD's short hash ("-dirty" if the library's sources, the build files
# or the benchmarks differ from it).
if commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null); then
  if [ -n "$(git -C "$root" status --porcelain -- src include arenas shim bench cmake \
               CMakeLists.txt ':!bench/results' 2>/dev/null)" ]; then
    commit="$commit-dirty"
  fi
else
  commit=uncommitted
fi

mkdir -p "$build" "$out"
step "1/3 configure $build (Release, -O2, no -march)"
if ! cmake -S "$root/bench" -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
      -DTB_VARIANT_DEFS="$variant_defs" -DTB_VARIANT_NAME="$variant_name" \
      >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  exit 1
fi

step "2/3 build talc_bench"
if ! cmake --build "$build" --target talc_bench -j "$(nproc)" >"$build/build.log" 2>&1; then
  cat "$build/build.log" >&2
  exit 1
fi

step "3/3 run preset '$preset' (commit $commit) -> $out"
args=(--preset "$preset" --out "$out" --commit "$commit")
if [ -n "${BENCH_SEED:-}" ]; then args+=(--seed "$BENCH_SEED"); fi
if [ -n "${BENCH_WORKLOADS:-}" ]; then args+=(--workloads "$BENCH_WORKLOADS"); fi
if [ -n "${BENCH_ALLOCATORS:-}" ]; then args+=(--allocators "$BENCH_ALLOCATORS"); fi
if [ -n "${BENCH_ARENA_STRIPES:-}" ]; then args+=(--arena-stripes "$BENCH_ARENA_STRIPES"); fi
"$build/talc_bench" "${args[@]}" "$@"
step "done: $out/summary.md"
if [ -z "${BENCH_ONLY:-}" ]; then
  step "next: the allocator suite (bench/suite/run.sh)"
  bash "$root/bench/suite/run.sh"
fi
