#!/usr/bin/env bash
# bench/suite/run.sh — the allocator suite: builds the workloads (bench/suite/) and libtalc's
# malloc shim, runs every workload × thread count × allocator interleaved, repeats, and writes
# the medians, the ratios to libtalc, charts and library sizes (bench/README.md, "Allocator
# suite").
#
#   bash bench/suite/run.sh                  (bench/run.sh runs it as its last stage)
#
# Environment (all optional):
#   BENCH_PRESET        quick (default; about 2 minutes) | full (under 20 minutes)
#   BENCH_OUT           results directory (default bench/results)
#   SUITE_BUILD_DIR     workloads' build directory (default build/suite)
#   SUITE_LIB_BUILD_DIR libtalc + shim build directory (default build/suite-lib)
#   SUITE_WORKLOADS     comma list (default all): larson,xmalloc,cache-scratch,cache-thrash,
#                       mstress,alloc-test,glibc-thread,sh6bench,random-actions
#   SUITE_THREADS       space list of thread counts (default "1 2 4")
#   SUITE_ALLOCATORS    comma list (default all found): talc,talc-aligned,glibc,jemalloc,
#                       mimalloc,tcmalloc,tbbmalloc
#   SUITE_REPS          repetitions (preset: quick 3, full 5)
#   SUITE_SECONDS       timed part of each run in seconds (preset: quick 0.15, full 1.0)
#   TALC_SHIM           path of libtalc-malloc.so to use instead of building one
#   SUITE_TALC_ALIGNED_CONF  TALC_CONF of the talc-aligned allocator (default cache_aligned=1)
#
# Threading rules: runs one workload process at a time (the workloads make their own threads).
# Progress goes to stderr ("[suite] k/N ..."), the Markdown summary to stdout and to
# $BENCH_OUT/suite.md; records to $BENCH_OUT/suite-<preset>.json; charts to
# $BENCH_OUT/suite-*.png; the memory checks' records (large calloc, malloc_trim, large blocks,
# soak, realloc growth, burst; one JSON object per line) to $BENCH_OUT/suite-memory.json. Exits 1 if
# any run failed its own check, crashed or timed out, or libtalc failed a memory check.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
preset=${BENCH_PRESET:-quick}
out=${BENCH_OUT:-$root/bench/results}
build=${SUITE_BUILD_DIR:-$root/build/suite}
libbuild=${SUITE_LIB_BUILD_DIR:-$root/build/suite-lib}
aligned_conf=${SUITE_TALC_ALIGNED_CONF:-cache_aligned=1}

case $preset in
  quick) reps=${SUITE_REPS:-3}; seconds=${SUITE_SECONDS:-0.15} ;;
  full) reps=${SUITE_REPS:-5}; seconds=${SUITE_SECONDS:-1.0} ;;
  *) echo "suite: BENCH_PRESET must be quick or full, not '$preset'" >&2; exit 2 ;;
esac
all_workloads=(larson xmalloc cache-scratch cache-thrash mstress alloc-test glibc-thread sh6bench
               random-actions)
IFS=, read -r -a workloads <<<"${SUITE_WORKLOADS:-$(IFS=,; echo "${all_workloads[*]}")}"
read -r -a threads <<<"${SUITE_THREADS:-1 2 4}"

step() { printf '[suite] %s\n' "$*" >&2; }

# ---- Build ----------------------------------------------------------------------------------
build_workloads() {
  step "build workloads in $build"
  mkdir -p "$build"
  if ! { cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release \
           -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" &&
         cmake --build "$build" -j 2; } >"$build/build.log" 2>&1; then
    cat "$build/build.log" >&2
    exit 1
  fi
}

# libtalc.so (for its size) and, once the shim exists, libtalc-malloc.so, built as a user
# gets them by default (the project's default build type, RelWithDebInfo: -O2 -g; `size`
# counts no debug sections). A failure here (another engineer's tree mid-edit) is reported,
# the libraries an earlier build left are removed (they would be measured under this commit's
# name), the suite goes on without libtalc, and suite.md ends with a FAILED line (run.sh's
# exit status says so too).
talc_build_failed=""
build_talc_failed() {
  step "WARNING: $1 libtalc failed ($libbuild/build.log); running without it"
  rm -f "$libbuild"/libtalc-malloc.so* "$libbuild"/libtalc.so*
  talc_build_failed="FAILED: $1 libtalc failed ($libbuild/build.log): libtalc not measured"
}
build_talc() {
  step "build libtalc and its malloc shim in $libbuild"
  mkdir -p "$libbuild"
  if ! cmake -S "$root" -B "$libbuild" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALC_BUILD_TESTS=OFF \
         -DTALC_BUILD_EXAMPLES=OFF -DTALC_BUILD_SHIM=ON >"$libbuild/build.log" 2>&1; then
    build_talc_failed configuring
    return 0
  fi
  local targets=(talc)
  local help # (captured first: grep -q would close the pipe early, and pipefail would say no)
  help=$(cmake --build "$libbuild" --target help 2>/dev/null || true)
  if grep -q '\btalc_malloc\b' <<<"$help"; then
    targets+=(talc_malloc)
  fi
  if ! cmake --build "$libbuild" -j 2 --target "${targets[@]}" >>"$libbuild/build.log" 2>&1; then
    build_talc_failed building
  fi
}

# ---- Allocators -----------------------------------------------------------------------------
# name -> LD_PRELOAD path ("" = the system allocator) and TALC_CONF ("" = none).
declare -A preload conf
alloc_order=()

peer_lib() { # debian-package file-name: the library's path, from the package or ldconfig
  local f
  # (whole lists read, no early exit: with pipefail a writer killed by SIGPIPE fails the pipe)
  f=$(dpkg -L "$1" 2>/dev/null |
      awk -v n="/$2" 'substr($0, length($0) - length(n) + 1) == n { f = $0 } END { print f }' ||
      true)
  if [ -z "$f" ]; then
    f=$(ldconfig -p | awk -v n="$2" '!f && $1 == n { f = $NF } END { print f }' || true)
  fi
  [ -n "$f" ] && [ -e "$f" ] && echo "$f"
}

add_alloc() { # name path conf
  if [ -n "${SUITE_ALLOCATORS:-}" ] && [[ ",$SUITE_ALLOCATORS," != *",$1,"* ]]; then return; fi
  preload[$1]=$2; conf[$1]=$3; alloc_order+=("$1")
}

find_allocators() {
  local shim=${TALC_SHIM:-$libbuild/libtalc-malloc.so} f
  if [ -e "$shim" ]; then
    add_alloc talc "$shim" ""
    add_alloc talc-aligned "$shim" "$aligned_conf"
  else
    step "WARNING: no libtalc-malloc.so ($shim): libtalc not measured; ratios are to glibc"
  fi
  add_alloc glibc "" ""
  while read -r name pkg file; do
    if f=$(peer_lib "$pkg" "$file"); then add_alloc "$name" "$f" ""
    else step "WARNING: $name ($pkg: $file) not installed; skipped (scripts/deps.sh bench)"; fi
  done <<'EOF'
jemalloc libjemalloc2 libjemalloc.so.2
mimalloc libmimalloc2.0 libmimalloc.so.2
tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal.so.4
tbbmalloc libtbbmalloc2 libtbbmalloc_proxy.so.2
EOF
}

# ---- Facts ----------------------------------------------------------------------------------
commit_id() {
  local c
  if c=$(git -C "$root" rev-parse --short HEAD 2>/dev/null); then
    if [ -n "$(git -C "$root" status --porcelain -- src include arenas shim bench cmake \
                 CMakeLists.txt ':!bench/results' 2>/dev/null)" ]; then
      c="$c-dirty"
    fi
    echo "$c"
  else
    echo uncommitted
  fi
}

# "label<TAB>path<TAB>text bytes" for libtalc, the shim and the peers' libraries.
library_sizes() {
  local lib label
  for label in libtalc.so libtalc-malloc.so; do
    lib=$libbuild/$label
    [ "$label" = libtalc-malloc.so ] && lib=${TALC_SHIM:-$lib}
    [ -e "$lib" ] || continue
    printf '%s\t%s\t%s\n' "$label" "$lib" "$(size "$lib" | awk 'NR == 2 { print $1 }')"
  done
  while read -r label pkg file; do
    lib=$(peer_lib "$pkg" "$file") || continue
    printf '%s\t%s\t%s\n' "$label" "$lib" "$(size "$lib" | awk 'NR == 2 { print $1 }')"
  done <<'EOF'
jemalloc libjemalloc2 libjemalloc.so.2
mimalloc libmimalloc2.0 libmimalloc.so.2
tcmalloc-minimal libtcmalloc-minimal4 libtcmalloc_minimal.so.4
tbbmalloc libtbbmalloc2 libtbbmalloc.so.2
tbbmalloc-proxy libtbbmalloc2 libtbbmalloc_proxy.so.2
EOF
}

# ---- Runs -----------------------------------------------------------------------------------
# One run: prints "alloc<TAB>workload<TAB>threads<TAB>rep<TAB>key=value..." (the workload's
# SUITE line and the launcher's LAUNCH line joined), or a status-only line if it died.
run_one() { # rep workload threads alloc
  local rep=$1 w=$2 t=$3 a=$4 lines args=()
  [ -n "${conf[$a]}" ] && args+=(-e "TALC_CONF=${conf[$a]}")
  lines=$("$build/suite_launch" -p "${preload[$a]}" "${args[@]}" -k "$timeout" -- \
            "$build/suite_${w//-/_}" -t "$t" -d "$seconds" 2>"$out/suite-stderr.tmp") || true
  if [ -s "$out/suite-stderr.tmp" ]; then
    sed "s|^|[suite] $a $w t=$t: |" "$out/suite-stderr.tmp" | head -5 >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$a" "$w" "$t" "$rep" \
    "$(grep -E '^(SUITE|LAUNCH) ' <<<"$lines" | tr '\n' ' ')"
}

is_cache() { [[ $1 == cache-* ]]; }

run_all() { # -> raw TSV on stdout
  local total=0 k=0 rep w t i j n a nt=${#threads[@]}
  for w in "${workloads[@]}"; do
    for a in "${alloc_order[@]}"; do
      [ "$a" = talc-aligned ] && ! is_cache "$w" && continue
      total=$((total + ${#threads[@]}))
    done
  done
  total=$((total * reps))
  for ((rep = 1; rep <= reps; rep++)); do
    for w in "${workloads[@]}"; do
      for ((j = 0; j < nt; j++)); do # thread counts rotated too: 1 2 4, 2 4 1, ...
        t=${threads[$(((j + rep - 1) % nt))]}
        n=${#alloc_order[@]}
        [ -t 2 ] || step "$((k + 1))/$total rep $rep/$reps $w t=$t"
        for ((i = 0; i < n; i++)); do # rotated by repetition: A B C, B C A, ...
          a=${alloc_order[$(((i + rep - 1) % n))]}
          [ "$a" = talc-aligned ] && ! is_cache "$w" && continue
          k=$((k + 1))
          if [ -t 2 ]; then printf '\r[suite] %d/%d rep %d/%d %-14s t=%d %-13s' \
                              "$k" "$total" "$rep" "$reps" "$w" "$t" "$a" >&2; fi
          run_one "$rep" "$w" "$t" "$a"
        done
      done
    done
  done
  if [ -t 2 ]; then printf '\n' >&2; fi
}

# ---- Memory checks after the suite (not workloads, not in the mean) -------------------------
# check_runs prog tag args...: three runs of a check program under allocator $a; prints their
# result lines (those starting with tag).
check_runs() { check_runs_n 3 "$@"; }
# check_runs_n n prog tag args...: the same with n runs. A run that printed no result line, or
# crashed, timed out or exited non-zero without a check's own verdict, adds the line
# "tag check=died status=S" (kept in suite-checks.log too): until 2026-12-07 it added nothing,
# so a crash in one run of three went unreported and the medians came from the runs that
# survived (found by a review).
check_runs_n() {
  local n=$1 prog=$2 tag=$3 r args=() res status lines
  shift 3
  [ -n "${conf[$a]}" ] && args+=(-e "TALC_CONF=${conf[$a]}")
  for ((r = 1; r <= n; r++)); do
    res=$("$build/suite_launch" -p "${preload[$a]}" "${args[@]}" -k "$timeout" -- \
      "$build/$prog" "$@" 2>>"$out/suite-checks.log")
    lines=$(grep "^$tag " <<<"$res")
    status=$(grep -o '^LAUNCH status=[^ ]*' <<<"$res" | tail -n 1 | cut -d= -f2)
    [ -n "$lines" ] && printf '%s\n' "$lines"
    # (a check that found a fault says check=bad or check=preload and exits non-zero itself)
    if [ -z "$lines" ] || { [ "$status" != 0 ] && ! grep -q 'check=bad\|check=preload' <<<"$lines"; }; then
      echo "$tag check=died status=${status:-none} ($prog under $a)" |
        tee -a "$out/suite-checks.log"
    fi
  done
}

# check_verdict lines what: the check's cell and, on failure, one line in $failed: FAILED (the
# run then exits 1) when libtalc fails the check or a preload did not load; PEER FAULT when a
# peer hands out a wrong block (a bug of that peer's package, reported, not ours to fail on:
# Debian's mimalloc 2.0.9 returns misaligned blocks for posix_memalign(256..1024, size), its
# issue #700, which the soak check finds).
check_verdict() {
  if grep -q 'check=preload' <<<"$1"; then
    cell="FAILED (malloc not from the preload)"
    failed+="FAILED: $2 under $a: malloc did not come from LD_PRELOAD=${preload[$a]}"$'\n'
  elif grep -q 'check=bad' <<<"$1" && [[ $a != talc* ]]; then
    cell="PEER FAULT ($3)"
    failed+="PEER FAULT: $2 under $a: $3 (suite-checks.log has the first ones)"$'\n'
  elif grep -q 'check=bad' <<<"$1"; then
    cell="FAILED ($3)"
    failed+="FAILED: $2 under $a: $3"$'\n'
  elif grep -q 'check=died' <<<"$1" && [[ $a != talc* ]]; then
    cell="PEER FAULT (a run died)"
    failed+="PEER FAULT: $2 under $a: a run crashed, timed out or failed (suite-checks.log)"$'\n'
  elif grep -q 'check=died' <<<"$1"; then
    cell="FAILED (a run died)"
    failed+="FAILED: $2 under $a: a run crashed, timed out or failed (suite-checks.log)"$'\n'
  elif ! grep -q 'check=ok' <<<"$1"; then
    cell="no result"
  else
    cell=ok
  fi
}

# median key scale format <<< lines: the median of key=value over the lines, divided by scale.
median() {
  grep -oE "(^| )$1=[0-9.]+" | cut -d= -f2 | sort -g | # (a whole key: not "us" in "status")
    awk -v s="$2" -v f="$3" '{ v[NR] = $1 } END { if (NR) printf f, v[int((NR + 1) / 2)] / s
                                                  else printf "—" }'
}

# A large calloc (calloc_large.c): time per call and peak RSS.
calloc_section() {
  local a lines ms rss cell failed=""
  printf '\n### Large calloc: 64 MiB, 1 MiB of it written, 20 rounds (`calloc_large`)\n\n'
  printf 'Medians of 3 runs. An allocator that hands out fresh zero pages without writing them '
  printf 'keeps the untouched part of the table out of RSS.\n\n'
  printf '| allocator | ms per calloc | peak RSS (MiB) | check |\n|---|---:|---:|---|\n'
  for a in "${alloc_order[@]}"; do
    [ "$a" = talc-aligned ] && continue
    lines=$(check_runs calloc_large CALLOC 64 20 1024)
    ms=$(median ms_per_call 1 '%.3f' <<<"$lines")
    rss=$(median maxrss_kib 1024 '%.1f' <<<"$lines")
    check_verdict "$lines" calloc_large "a calloc'ed word was not zero"
    if [ "$cell" != ok ]; then
      printf '| %s | %s | %s | %s |\n' "$a" "$ms" "$rss" "$cell"
    else
      printf '| %s | %s | %s | ok |\n' "$a" "$ms" "$rss"
      printf '{"workload":"calloc-large","allocator":"%s","mib":64,"rounds":20,"touched_kib":1024,"ms_per_call":%s,"peak_rss_mib":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$ms" "$rss" "$commit" "$cpu" "$date" >>"$out/suite-memory.json"
    fi
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# malloc_trim after a burst (trim_rss.c): resident memory before and after it.
trim_section() {
  local a lines freed trimmed ms cell failed=""
  printf '\n### malloc_trim after a burst: 64 MiB of 1 B–64 KiB blocks, 10 %% kept (`trim_rss`)\n\n'
  printf 'Medians of 3 runs; RSS from /proc/self/statm. An allocator without its own '
  printf '`malloc_trim` gets glibc'"'"'s, which trims only glibc'"'"'s heap.\n\n'
  printf '| allocator | RSS after the frees (MiB) | after malloc_trim (MiB) | ms in malloc_trim | check |\n'
  printf '|---|---:|---:|---:|---|\n'
  for a in "${alloc_order[@]}"; do
    [ "$a" = talc-aligned ] && continue
    lines=$(check_runs trim_rss TRIM 64 10)
    freed=$(median rss_freed_kib 1024 '%.1f' <<<"$lines")
    trimmed=$(median rss_trimmed_kib 1024 '%.1f' <<<"$lines")
    ms=$(median trim_ms 1 '%.3f' <<<"$lines")
    check_verdict "$lines" trim_rss "a live block changed"
    if [ "$cell" != ok ]; then
      printf '| %s | %s | %s | %s | %s |\n' "$a" "$freed" "$trimmed" "$ms" "$cell"
    else
      printf '| %s | %s | %s | %s | ok |\n' "$a" "$freed" "$trimmed" "$ms"
      printf '{"workload":"malloc-trim","allocator":"%s","mib":64,"keep_pct":10,"rss_freed_mib":%s,"rss_trimmed_mib":%s,"trim_ms":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$freed" "$trimmed" "$ms" "$commit" "$cpu" "$date" >>"$out/suite-memory.json"
    fi
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# Large buffers beside small objects (large_mix.c): peak RSS against the most bytes live.
large_section() {
  local a lines ms live rss ratio cell failed="" ops=150000
  [ "$preset" = full ] && ops=600000
  printf '\n### Large blocks beside small ones: 2 threads × %d operations, 0.5 %% of the blocks 64 KiB–1 MiB (`large_mix`)\n\n' "$ops"
  printf 'Medians of 3 runs. Every page of a block is written, so RSS follows the memory an '
  printf 'allocator holds for the bytes it hands out; peak RSS ÷ the most bytes live at once '
  printf '(program and libraries included).\n\n'
  printf '| allocator | ms | most live (MiB) | peak RSS (MiB) | RSS ÷ live | check |\n'
  printf '|---|---:|---:|---:|---:|---|\n'
  for a in "${alloc_order[@]}"; do
    [ "$a" = talc-aligned ] && continue
    lines=$(check_runs large_mix LARGE "$ops" 2)
    ms=$(median ms 1 '%.1f' <<<"$lines")
    live=$(median peak_live_kib 1024 '%.1f' <<<"$lines")
    rss=$(median maxrss_kib 1024 '%.1f' <<<"$lines")
    ratio=$(awk -v r="$rss" -v l="$live" 'BEGIN { if (l + 0 > 0) printf "%.2f", r / l; else printf "—" }')
    check_verdict "$lines" large_mix "a block changed"
    if [ "$cell" != ok ]; then
      printf '| %s | %s | %s | %s | %s | %s |\n' "$a" "$ms" "$live" "$rss" "$ratio" "$cell"
    else
      printf '| %s | %s | %s | %s | %s | ok |\n' "$a" "$ms" "$live" "$rss" "$ratio"
      printf '{"workload":"large-mix","allocator":"%s","ops":%d,"threads":2,"ms":%s,"peak_live_mib":%s,"peak_rss_mib":%s,"rss_per_live":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$((ops * 2))" "$ms" "$live" "$rss" "$ratio" "$commit" "$cpu" "$date" >>"$out/suite-memory.json"
    fi
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# A daemon's day in a few seconds (soak.c): is the memory held flat, are the blocks intact?
soak_section() {
  local a lines cell failed="" secs=3 ops rate growth ratio rss made kept
  [ "$preset" = full ] && secs=12
  printf '\n### Soak: %s s of 2 steady threads and short-lived ones, 16384 shared slots (`soak`)\n\n' "$secs"
  printf 'One run each. Growth = mean RSS over the last third of the run ÷ over the second (above '
  printf '1: the memory held keeps growing); RSS ÷ live = mean RSS over the last third ÷ the mean '
  printf 'bytes live then; kept = RSS once every block is freed and malloc_trim(0) ran.\n\n'
  printf '| allocator | M ops/s | threads made | growth | RSS ÷ live | peak RSS (MiB) | kept (MiB) | check |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|---|\n'
  for a in "${alloc_order[@]}"; do
    [ "$a" = talc-aligned ] && continue
    lines=$(check_runs_n 1 soak SOAK "$secs" 2)
    ops=$(median ops 1 '%.0f' <<<"$lines")
    rate=$(awk -v o="$ops" -v s="$secs" 'BEGIN { if (o + 0 > 0) printf "%.2f", o / s / 1e6; else printf "—" }')
    growth=$(median growth 1 '%.3f' <<<"$lines")
    ratio=$(median rss_per_live 1 '%.2f' <<<"$lines")
    rss=$(median maxrss_kib 1024 '%.1f' <<<"$lines")
    kept=$(median rss_end_kib 1024 '%.1f' <<<"$lines")
    made=$(median threads_made 1 '%.0f' <<<"$lines")
    check_verdict "$lines" soak "a block's contents or alignment was wrong"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$a" "$rate" "$made" "$growth" "$ratio" \
      "$rss" "$kept" "$cell"
    [ "$cell" = ok ] &&
      printf '{"workload":"soak","allocator":"%s","seconds":%s,"steady_threads":2,"m_ops_per_s":%s,"growth":%s,"rss_per_live":%s,"peak_rss_mib":%s,"kept_mib":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$secs" "$rate" "$growth" "$ratio" "$rss" "$kept" "$commit" "$cpu" "$date" >>"$out/suite-memory.json"
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# A buffer grown by realloc in small steps (realloc_grow.c): time, moves and peak RSS.
realloc_section() {
  local a lines ms moves rss calls cell failed="" rounds=1 each="1 round"
  [ "$preset" = full ] && rounds=3 && each="3 rounds"
  printf '\n### realloc growth: one buffer grown from 64 KiB to 64 MiB in 64 KiB steps, %s a run (`realloc_grow`)\n\n' "$each"
  printf 'Medians of 3 runs (each run'"'"'s figure the median of its rounds). A move is a realloc '
  printf 'that returned another pointer: an allocator that cannot grow a large block where it is '
  printf '(or move its pages, as glibc'"'"'s mremap does) copies it, and the time grows with the '
  printf 'square of the buffer. The last byte of every size is written and checked at the end.\n\n'
  printf '| allocator | ms per round | moves per round | peak RSS (MiB) | check |\n'
  printf '|---|---:|---:|---:|---|\n'
  for a in "${alloc_order[@]}"; do
    [ "$a" = talc-aligned ] && continue
    lines=$(check_runs realloc_grow REALLOC 64 64 "$rounds")
    ms=$(median ms 1 '%.1f' <<<"$lines")
    moves=$(median moves 1 '%.0f' <<<"$lines")
    calls=$(median calls 1 '%.0f' <<<"$lines")
    rss=$(median maxrss_kib 1024 '%.1f' <<<"$lines")
    check_verdict "$lines" realloc_grow "a written byte changed"
    if [ "$cell" != ok ]; then
      printf '| %s | %s | %s | %s | %s |\n' "$a" "$ms" "$moves" "$rss" "$cell"
    else
      printf '| %s | %s | %s | %s | ok |\n' "$a" "$ms" "$moves" "$rss"
      printf '{"workload":"realloc-grow","allocator":"%s","mib":64,"step_kib":64,"rounds":%d,"calls_per_round":%s,"ms_per_round":%s,"moves_per_round":%s,"peak_rss_mib":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$rounds" "$calls" "$ms" "$moves" "$rss" "$commit" "$cpu" "$date" >>"$out/suite-memory.json"
    fi
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# One large buffer taken and given back in a loop (large_loop.c): time and page faults.
large_loop_section() {
  local a m lines cell failed="" iters=100 us=() faults=() rss
  [ "$preset" = full ] && iters=300
  printf '\n### Large buffer loop: malloc, write every byte, free, %s times, of 4 and of 8 MiB (`large_loop`)\n\n' "$iters"
  printf 'Medians of 3 runs, per iteration. An allocator that maps such a block anew each time '
  printf 'and unmaps it at the free pays an mmap, a munmap and a page fault per 4 KiB page '
  printf 'every time; one that keeps the memory pays none.\n\n'
  printf '| allocator | µs (4 MiB) | page faults (4 MiB) | µs (8 MiB) | page faults (8 MiB) | peak RSS (MiB, 8 MiB runs) | check |\n'
  printf '|---|---:|---:|---:|---:|---:|---|\n'
  for a in "${alloc_order[@]}"; do
    [ "$a" = talc-aligned ] && continue
    local all=""
    us=() faults=()
    for m in 4 8; do
      lines=$(check_runs large_loop LARGELOOP "$m" "$iters")
      all+="$lines"$'\n'
      us+=("$(median us 1 '%.0f' <<<"$lines")")
      faults+=("$(median faults 1 '%.0f' <<<"$lines")")
      rss=$(median maxrss_kib 1024 '%.1f' <<<"$lines")
    done
    check_verdict "$all" large_loop "a block read back wrong"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$a" "${us[0]}" "${faults[0]}" "${us[1]}" \
      "${faults[1]}" "$rss" "$cell"
    [ "$cell" = ok ] &&
      printf '{"workload":"large-loop","allocator":"%s","iterations":%d,"us_4mib":%s,"faults_4mib":%s,"us_8mib":%s,"faults_8mib":%s,"peak_rss_mib":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$iters" "${us[0]}" "${faults[0]}" "${us[1]}" "${faults[1]}" "$rss" "$commit" "$cpu" \
        "$date" >>"$out/suite-memory.json"
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# A thread pool after a burst (burst_rss.c): what stays resident once every block is freed,
# while the threads idle and after they exit. libtalc runs twice: as configured by default, and
# with its background trimmer (TALC_CONF=trim_ms=100), which the settle time lets run.
burst_section() {
  local a lines peak idle settled exited cell failed="" threads=4 mib=24 settle=500
  local order=()
  for a in "${alloc_order[@]}"; do
    case $a in
      talc-aligned) ;;
      talc) order+=(talc talc-trim100)
            preload[talc-trim100]=${preload[talc]}; conf[talc-trim100]=trim_ms=100 ;;
      *) order+=("$a") ;;
    esac
  done
  printf '\n### A thread pool after a burst: %d threads × %d MiB of 16 B–64 KiB blocks, all freed (`burst_rss`)\n\n' \
    "$threads" "$mib"
  printf 'Medians of 3 runs; RSS from /proc/self/statm, with no block live: while the threads '
  printf 'idle after freeing everything, %d ms later, and after they have exited. `talc-trim100` ' "$settle"
  printf 'is libtalc with `TALC_CONF=trim_ms=100` (its background trimmer; off by default).\n\n'
  printf '| allocator | peak RSS (MiB) | idle (MiB) | %d ms later (MiB) | after exit (MiB) | check |\n' "$settle"
  printf '|---|---:|---:|---:|---:|---|\n'
  for a in "${order[@]}"; do
    lines=$(check_runs burst_rss BURST "$threads" "$mib" "$settle")
    peak=$(median maxrss_kib 1024 '%.1f' <<<"$lines")
    idle=$(median rss_idle_kib 1024 '%.1f' <<<"$lines")
    settled=$(median rss_settled_kib 1024 '%.1f' <<<"$lines")
    exited=$(median rss_exit_kib 1024 '%.1f' <<<"$lines")
    check_verdict "$lines" burst_rss "a block changed while it was live"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$a" "$peak" "$idle" "$settled" "$exited" "$cell"
    [ "$cell" = ok ] &&
      printf '{"workload":"burst","allocator":"%s","threads":%d,"mib_per_thread":%d,"settle_ms":%d,"peak_rss_mib":%s,"idle_rss_mib":%s,"settled_rss_mib":%s,"exit_rss_mib":%s,"commit":"%s","cpu":"%s","date":"%s"}\n' \
        "$a" "$threads" "$mib" "$settle" "$peak" "$idle" "$settled" "$exited" "$commit" "$cpu" "$date" >>"$out/suite-memory.json"
  done
  [ -z "$failed" ] || printf '\n%s' "$failed"
}

# ---- Main -----------------------------------------------------------------------------------
mkdir -p "$out"
build_workloads
build_talc
find_allocators
timeout=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 20 + 30 }')
commit=$(commit_id)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
raw=$out/suite-$preset.tsv
sizes=$out/suite-sizes.tsv
step "preset $preset: ${#workloads[@]} workloads × threads ${threads[*]} × ${alloc_order[*]}," \
     "$reps reps of $seconds s (commit $commit)"
for a in "${alloc_order[@]}"; do
  step "  $a: LD_PRELOAD=${preload[$a]:-(none)}${conf[$a]:+ TALC_CONF=${conf[$a]}}"
done
t0=$(date +%s)
run_all >"$raw"
rm -f "$out/suite-stderr.tmp"
library_sizes >"$sizes"
step "runs took $(($(date +%s) - t0)) s; report"
awk -F'\t' -f "$here/report.awk" \
  -v preset="$preset" -v commit="$commit" -v cpu="$cpu" -v cores="$(nproc)" \
  -v kernel="$(uname -r)" -v arch="$(uname -m)" -v date="$date" -v reps="$reps" \
  -v seconds="$seconds" -v order="${alloc_order[*]}" -v out="$out" -v sizes_file="$sizes" \
  -v preloads="$(for a in "${alloc_order[@]}"; do printf '%s=%s;' "$a" "${preload[$a]}"; done)" \
  -v confs="$(for a in "${alloc_order[@]}"; do printf '%s=%s;' "$a" "${conf[$a]}"; done)" \
  "$sizes" "$raw" >"$out/suite.md"
step "memory checks under each allocator: large calloc, malloc_trim, large blocks, soak," \
     "realloc growth, a large buffer loop, a burst on a thread pool"
rm -f "$out/suite-memory.json" "$out/suite-calloc.json" "$out/suite-checks.log"
calloc_section >>"$out/suite.md"
trim_section >>"$out/suite.md"
large_section >>"$out/suite.md"
soak_section >>"$out/suite.md"
realloc_section >>"$out/suite.md"
large_loop_section >>"$out/suite.md"
burst_section >>"$out/suite.md"
[ -z "$talc_build_failed" ] || printf '\n%s\n' "$talc_build_failed" >>"$out/suite.md"
if command -v gnuplot >/dev/null; then
  for chart in time rss cache; do
    rm -f "$out/suite-$chart.png"
    [ "$(wc -l <"$out/suite-$chart.dat")" -gt 1 ] || continue # header only: nothing to draw
    gnuplot -e "dat='$out/suite-$chart.dat'; png='$out/suite-$chart.png'; kind='$chart'" \
            "$here/charts.gp" 2>"$out/suite-gnuplot.log" ||
      step "WARNING: gnuplot failed on $chart ($out/suite-gnuplot.log)"
  done
else
  step "WARNING: no gnuplot (scripts/deps.sh bench): no charts"
fi
cat "$out/suite.md"
step "done: $out/suite.md, $out/suite-$preset.json, $out/suite-{time,rss,cache}.png"
! grep -q '^FAILED' "$out/suite.md"
