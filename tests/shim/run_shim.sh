#!/usr/bin/env bash
# run_shim.sh — run one shim test program and check what only the outside can see.
#
#   run_shim.sh --out DIR [--cd] [--preload LIB] [--qemu] [--conf TALC_CONF]
#               [--expect TEXT]... [--expect-once TEXT]... [--stats ARGS] -- COMMAND...
#
#   --out DIR          scratch directory (emptied first); "@OUT@" in --conf becomes DIR
#   --cd               run COMMAND in DIR (its paths must then be absolute)
#   --preload LIB      run COMMAND with LIB preloaded: LD_PRELOAD, or with --qemu
#                      QEMU_SET_ENV=LD_PRELOAD=LIB, so that only the emulated program (not
#                      qemu itself) preloads it, and children started through binfmt inherit it
#   --conf STRING      TALC_CONF for COMMAND
#   --expect TEXT      TEXT must appear in COMMAND's stdout or stderr
#   --expect-once TEXT TEXT must appear on exactly one line of stderr (TALC_CONF warnings)
#   --stats ARGS       check DIR/stats-*.json with check_stats.py ARGS (space-separated)
#
# Exit status 0 iff COMMAND exited 0 and every check held. On failure COMMAND's output is shown.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out="" cd=0 preload="" qemu=0 conf="" stats="" have_stats=0
expect=() expect_once=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --preload) preload=$2; shift 2 ;;
    --qemu) qemu=1; shift ;;
    --cd) cd=1; shift ;;
    --conf) conf=$2; shift 2 ;;
    --expect) expect+=("$2"); shift 2 ;;
    --expect-once) expect_once+=("$2"); shift 2 ;;
    --stats) stats=$2; have_stats=1; shift 2 ;;
    --) shift; break ;;
    *) echo "run_shim.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] && [ $# -gt 0 ] || { echo "run_shim.sh: need --out and a command" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out" || exit 2

envs=()
[ -n "$conf" ] && envs+=("TALC_CONF=${conf//@OUT@/$out}")
if [ -n "$preload" ]; then
  [ -f "$preload" ] || { echo "run_shim.sh: $preload does not exist" >&2; exit 1; }
  if [ "$qemu" = 1 ]; then envs+=("QEMU_SET_ENV=LD_PRELOAD=$preload")
  else envs+=("LD_PRELOAD=$preload"); fi
fi

cmd=("$@")
if [ "$cd" = 1 ]; then
  (cd "$out" && env "${envs[@]}" "${cmd[@]}") >"$out/stdout" 2>"$out/stderr"
else
  env "${envs[@]}" "${cmd[@]}" >"$out/stdout" 2>"$out/stderr"
fi
rc=$?

fail() {
  echo "run_shim.sh: FAILED: $*"
  echo "---- command: ${envs[*]} ${cmd[*]}"
  echo "---- stdout"; cat "$out/stdout"
  echo "---- stderr"; cat "$out/stderr"
  exit 1
}

cat "$out/stdout"
[ "$rc" -eq 0 ] || fail "exit status $rc"
for t in "${expect[@]}"; do
  cat "$out/stdout" "$out/stderr" | grep -qF -- "$t" || fail "missing output: $t"
done
for t in "${expect_once[@]}"; do
  n=$(grep -cF -- "$t" "$out/stderr")
  [ "$n" -eq 1 ] || fail "expected exactly one stderr line with: $t (found $n)"
done
if [ "$have_stats" = 1 ]; then
  # shellcheck disable=SC2086  # stats holds check_stats.py's options
  /usr/bin/python3 "$here/check_stats.py" "$out" $stats || fail "statistics check"
fi
echo "run_shim.sh: ok"
