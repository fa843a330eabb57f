#!/usr/bin/env bash
# model_long.sh — a long run of the shim's random model test (shim_model.c; docs/shim.md,
# "Tests"): one seed after another until the time is up, each seed in the four forms ctest
# runs (preloaded; linked; preloaded with cache_aligned=1; linked with a reserve, 4 stripes
# and a budget the run outgrows), OPS operations per thread in THREADS threads. Stops at the
# first failure and prints the command that replays it. Not run by ctest; native builds only.
#
#   tests/shim/model_long.sh [SECONDS [BUILD_DIR [OPS [THREADS]]]]
#                            defaults 600, build/gcc-release, 200000, 8
#   TALC_SEED=<n>            the first seed (default: from the clock); then n+1, n+2, ...
#
# One program at a time (each uses THREADS threads and up to about 60 MiB per thread). Exit
# status 0 iff every run passed; a summary line at the end.
set -u
secs=${1:-600} dir=${2:-build/gcc-release} ops=${3:-200000} threads=${4:-8}
lib=$dir/libtalc-malloc.so bin=$dir/tests/shim
for f in "$lib" "$bin/shim_model" "$bin/shim_model_linked"; do
  [ -e "$f" ] || { echo "model_long.sh: $f does not exist (build shim_model first)" >&2; exit 2; }
done
seed=${TALC_SEED:-$(( $(date +%s%N) % 1000000000 ))}
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT
end=$((SECONDS + secs)) runs=0 calls=0 start=$SECONDS

# run <label> <env...> -- <program>: one run of the current seed; 1 on failure (shown).
run() {
  local label=$1; shift
  local envs=(); while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  if ! env TALC_SEED="$seed" "${envs[@]}" "$@" "$ops" "$threads" >"$log" 2>&1; then
    cat "$log"
    echo "model_long.sh: FAILED ($label); replay:"
    echo "  TALC_SEED=$seed ${envs[*]} $* $ops $threads"
    return 1
  fi
  runs=$((runs + 1))
  calls=$((calls + $(sed -n 's/^shim_model: \([0-9]*\) calls.*/\1/p' "$log")))
}

reserve="stripes=4,reserve=16M,arena=default:budget=48M:borrow=16M"
status=0
while [ $SECONDS -lt $end ]; do
  if ! { run preload LD_PRELOAD="$lib" -- "$bin/shim_model" &&
         run linked -- "$bin/shim_model_linked" &&
         run aligned LD_PRELOAD="$lib" TALC_CONF=cache_aligned=1 SHIM_EXPECT_LINE=1 \
           -- "$bin/shim_model" &&
         run reserve TALC_CONF="$reserve" SHIM_MODEL_OOM_OK=1 -- "$bin/shim_model_linked"; }
  then
    status=1
    break
  fi
  echo "model_long.sh: seed $seed passed in 4 forms ($((SECONDS - start)) s)"
  seed=$((seed + 1))
done
echo "model_long.sh: $runs runs, $calls calls, $((SECONDS - start)) s, $ops operations x" \
     "$threads threads each: $([ $status = 0 ] && echo "all passed" || echo FAILED)"
exit $status
