#!/usr/bin/env bash
# test.sh — the whole test matrix; `make test` and CI (.ci/run) run it.
#
# Installs what is missing (scripts/deps.sh native + cross), then configures, builds and runs
# ctest for each configuration in its own directory build/<name>:
#
#   x86_64   gcc-release       gcc -O3 -g; unit tests, examples, bare-metal image, header and
#                              export checks, install + consumer (find_package, pkg-config),
#                              the malloc shim with Debian's python3/git/sqlite3/redis under it
#            gcc-granule-4k    gcc -O3 -g, TALC_PAGEMAP_SHIFT=12 (4 KiB owner-map granules, the
#                              embedded setting; the suite sizes its tests from the granule)
#            gcc-granule-16m   gcc -O3 -g, TALC_PAGEMAP_SHIFT=24 (16 MiB granules, the largest:
#                              OS segments of one granule instead of 1 MiB)
#            clang-debug3      clang -O0, TALC_DEBUG=3 (invariant checker after every operation);
#                              the lint gates: clang-format layout, clang-tidy (scripts/lint.sh)
#            gcc-asan          gcc, ASan + UBSan (leaks fail the test)
#            gcc-valgrind      gcc -O2 -g, the <test>-valgrind variants only (memcheck)
#            clang-fuzz        clang, libFuzzer + ASan + UBSan: fuzz_heap, fuzz_arena 20 s, fuzz_conf 10 s
#            gcc-counters-off  gcc, TALC_COUNTERS=OFF, TALC_TCACHE=OFF and TALC_SHRINK_MOVE=0 (no moving shrinks)
#            clang-tsan        clang, ThreadSanitizer: every suite, run by tests/lite (Criterion
#                              cannot run under TSan: toolchain.md 3.4), the plain programs and
#                              the examples; liburcu suppressed by tests/tsan.supp
#            gcc-sysfs-yield   gcc, TALC_TOPOLOGY=sysfs (no hwloc) and TALC_DEBUG_YIELD (random
#                              yields at every atomic): the arena, topology, platform and shim
#                              tests, and stress_locked (the locked heap's spinlock)
#   aarch64  aarch64-release   cross gcc -O3 -g, ctest under qemu-user (as gcc-release, without
#                              the Debian programs under the shim)
#   armhf    armhf-release     32-bit ARM: cross gcc -O3 -g, ctest under qemu-user; the suites
#                              run by tests/lite (Debian 12 has no armhf Criterion); otherwise
#                              as aarch64-release; libc, liburcu and hwloc from the sysroot
#                              .deps/armhf-sysroot. Reported as NOT RUN, naming what is
#                              missing, where scripts/deps.sh cross could not provide it
#   The malloc shim (docs/shim.md) is built and tested where it can be: not in the ASan, TSan,
#   valgrind and fuzz configurations, whose tools replace malloc themselves.
#
# Each configuration's output goes to the terminal and to build/logs/<name>.log. A failing
# configuration does not stop the others. At the end: a table, then one summary line per
# architecture; the exit status is non-zero iff a configuration failed.
#
# Environment: JOBS (default 2) for the build, ctest and Criterion; TALC_TEST_ONLY=<name,...>
# runs only the named configurations (for a quick local loop).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
JOBS=${JOBS:-2}
only=${TALC_TEST_ONLY:-}
configs=" gcc-release gcc-granule-4k gcc-granule-16m clang-debug3 gcc-asan gcc-valgrind \
clang-fuzz gcc-counters-off clang-tsan gcc-sysfs-yield aarch64-release armhf-release "

# TALC_TEST_ONLY: comma-separated names (spaces around them and a trailing comma ignored);
# empty or unset: every configuration. A name that is no configuration or an empty item stops
# the run: until 2026-12-07 a misspelt name ran nothing and reported success (found by a
# review), and so did "," or " name".
if [ -n "$only" ]; then
  only=","
  IFS=, read -r -a items <<< "${TALC_TEST_ONLY//$'\n'/,}" # (a newline separates too)
  for name in "${items[@]}"; do
    name=${name#"${name%%[![:space:]]*}"}
    name=${name%"${name##*[![:space:]]}"}
    if [ -z "$name" ] || [[ "$name" == *[[:space:]]* ]] || [[ "$configs" != *" $name "* ]]; then
      echo "test.sh: TALC_TEST_ONLY='$TALC_TEST_ONLY': '$name' is no configuration" \
        "(known:${configs% })" >&2
      exit 2
    fi
    only+="$name,"
  done
fi
# whether the run includes configuration $1 (only: "" = all, else ",name,name,")
selected() { [ -z "$only" ] || [[ "$only" == *",$1,"* ]]; }

scripts/deps.sh native || exit 1
host=$(uname -m)
if [ "$host" = x86_64 ] && { selected aarch64-release || selected armhf-release; }; then
  scripts/deps.sh cross || exit 1
fi

mkdir -p build/logs
declare -a rows=()
declare -A n_cfg=() n_tests=() failed=() not_run=()

# run_config <arch> <name> <ctest args> -- <cmake configure args...>
run_config() {
  local arch=$1 name=$2 ctest_args=$3
  shift 4
  if [[ "$configs" != *" $name "* ]]; then
    echo "test.sh: configuration '$name' is missing from \$configs" >&2
    exit 2
  fi
  selected "$name" || return 0
  local dir=build/$name log=build/logs/$name.log start=$SECONDS
  printf '\n==== %s: %s ====\n' "$arch" "$name"
  {
    cmake -S . -B "$dir" -DTALC_WERROR=ON "$@" &&
      cmake --build "$dir" -j "$JOBS" &&
      # shellcheck disable=SC2086  # ctest_args is a word list
      ctest --test-dir "$dir" -j "$JOBS" --output-on-failure \
        --no-tests=error $ctest_args
  } 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} secs=$((SECONDS - start)) n
  n=$(grep -oE 'tests failed out of [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+$')
  n=${n:-0}
  n_cfg[$arch]=$(( ${n_cfg[$arch]:-0} + 1 ))
  n_tests[$arch]=$(( ${n_tests[$arch]:-0} + n ))
  local verdict=passed
  if [ "$rc" -ne 0 ]; then
    verdict=FAILED
    failed[$arch]="${failed[$arch]:-}${failed[$arch]:+, }$name"
  fi
  rows+=("$(printf '  %-8s %-18s %4d tests  %-7s %4ds' "$arch" "$name" "$n" "$verdict" "$secs")")
}

total_start=$SECONDS
run_config x86_64 gcc-release "" -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DTALC_TEST_INSTALL=ON \
  -DTALC_TEST_SHIM_PROGRAMS=ON
run_config x86_64 gcc-granule-4k "" -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DTALC_PAGEMAP_SHIFT=12
run_config x86_64 gcc-granule-16m "" -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DTALC_PAGEMAP_SHIFT=24
run_config x86_64 clang-debug3 "" -- \
  -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTALC_DEBUG=3 -DTALC_LINT=ON
run_config x86_64 gcc-asan "" -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug -DTALC_SANITIZE=asan
run_config x86_64 gcc-valgrind "-L valgrind" -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALC_VALGRIND=ON \
  -DTALC_BUILD_EXAMPLES=OFF
if [ -f tests/fuzz/fuzz_heap.c ]; then
  run_config x86_64 clang-fuzz "-L fuzz" -- \
    -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALC_FUZZ=ON \
    -DTALC_BUILD_EXAMPLES=OFF
else
  echo "test.sh: tests/fuzz/fuzz_heap.c does not exist yet: no fuzz configuration"
fi
run_config x86_64 gcc-counters-off "" -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALC_COUNTERS=OFF -DTALC_TCACHE=OFF -DTALC_SHRINK_MOVE=0
run_config x86_64 clang-tsan "" -- \
  -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALC_SANITIZE=tsan \
  -DTALC_TEST_RUNNER=lite
run_config x86_64 gcc-sysfs-yield "-R arena|topology|cpu_id|platform|smoke|mutex|shim|stress_locked" \
  -- \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DTALC_TOPOLOGY=sysfs \
  -DTALC_DEBUG_YIELD=ON -DTALC_BUILD_EXAMPLES=OFF
if [ "$host" = x86_64 ]; then
  run_config aarch64 aarch64-release "" -- \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS=-g -DTALC_TEST_INSTALL=ON
  # armhf's packages or sysroot may be missing (scripts/deps.sh: no armhf index on the mirror):
  # then the configuration is reported as not run, and by name in the summary.
  armhf_missing=$(scripts/deps.sh missing armhf | tr '\n' ' ')
  if [ -z "$armhf_missing" ]; then
    run_config armhf armhf-release "" -- \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/armhf-linux-gnueabihf.cmake" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DTALC_TEST_INSTALL=ON \
      -DTALC_TEST_RUNNER=lite
  elif selected armhf-release; then
    rows+=("$(printf '  %-8s %-18s %4s tests  %-7s' armhf armhf-release - 'NOT RUN')")
    not_run[armhf]="missing (scripts/deps.sh cross could not provide them): ${armhf_missing% }"
  fi
fi

printf '\n==== summary (%ds, logs in build/logs) ====\n' $((SECONDS - total_start))
printf '%s\n' "${rows[@]}"
status=0
for arch in x86_64 aarch64 armhf; do
  if [ -n "${not_run[$arch]:-}" ]; then
    echo "$arch: NOT RUN: ${not_run[$arch]}"
    continue
  fi
  [ -n "${n_cfg[$arch]:-}" ] || continue
  cfgs="${n_cfg[$arch]} configuration"; [ "${n_cfg[$arch]}" -eq 1 ] || cfgs+=s
  if [ -n "${failed[$arch]:-}" ]; then
    echo "$arch: $cfgs, ${n_tests[$arch]} tests, FAILED: ${failed[$arch]}"
    status=1
  else
    echo "$arch: $cfgs, ${n_tests[$arch]} tests, all passed"
  fi
done
exit $status
