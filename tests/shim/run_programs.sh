#!/usr/bin/env bash
# run_programs.sh — real programs from Debian's packages under LD_PRELOAD=libtalc-malloc.so,
# each checked on its own results and on the statistics the shim wrote at exit (which prove
# the shim served their allocations). A missing program is a failure, never a skip: the CI
# machine gets them from scripts/deps.sh native.
#
#   run_programs.sh LIB OUTDIR python|git|sqlite|redis|tools
#
# Exit status 0 iff the program's results were right and the shim was in use.
set -u
lib=$1 out=$2 what=$3
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out" && mkdir -p "$out" || exit 2
[ -f "$lib" ] || { echo "run_programs.sh: $lib does not exist" >&2; exit 1; }
conf="stats=json,stats_file=$out/stats-%p.json"

fail() { echo "run_programs.sh $what: FAILED: $*"; exit 1; }
need() {
  local p
  for p in "$@"; do
    [ -x "$p" ] || fail "$p is missing (scripts/deps.sh native installs it)"
  done
}
# Run a command with the shim preloaded (and nothing else of the caller's environment that
# could change what the program does).
shim() { env LD_PRELOAD="$lib" TALC_CONF="$conf" "$@"; }
stats() { /usr/bin/python3 "$here/check_stats.py" "$out" "$@" || fail "statistics check"; }

run_python() {
  need /usr/bin/python3
  local want got
  # Debian's python3, not one from PATH (pyenv). PYTHONMALLOC=malloc sends every object
  # allocation through malloc instead of pymalloc's arenas.
  want=$(env -u LD_PRELOAD /usr/bin/python3 -s "$here/workload.py") || fail "reference run"
  got=$(shim PYTHONMALLOC=malloc /usr/bin/python3 -s "$here/workload.py") || fail "exit status"
  echo "$got"
  [ "$got" = "$want" ] || fail "output differs from the run without the shim: $want"
  stats --min-allocs 100000
}

run_git() {
  need /usr/bin/git
  local repo=$out/repo g n log
  export HOME=$out GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  g=(shim /usr/bin/git -c user.name=Shim -c user.email=shim@example.org -c init.defaultBranch=main)
  "${g[@]}" init -q "$repo" || fail "git init"
  for n in 1 2 3; do
    seq 1 $((n * 1000)) >"$repo/file$n.txt"
    printf 'commit %s\n' "$n" >"$repo/README"
    "${g[@]}" -C "$repo" add -A || fail "git add $n"
    "${g[@]}" -C "$repo" commit -q -m "commit number $n" || fail "git commit $n"
  done
  log=$("${g[@]}" -C "$repo" log --format=%s) || fail "git log"
  echo "$log"
  [ "$log" = $'commit number 3\ncommit number 2\ncommit number 1' ] || fail "git log: $log"
  [ "$("${g[@]}" -C "$repo" show HEAD:file3.txt | wc -l)" = 3000 ] || fail "git show"
  "${g[@]}" -C "$repo" fsck --strict >"$out/fsck.log" 2>&1 ||
    fail "git fsck: $(cat "$out/fsck.log")"
  [ -z "$("${g[@]}" -C "$repo" status --porcelain)" ] || fail "git status not clean"
  stats --min-allocs 100
}

run_sqlite() {
  need /usr/bin/sqlite3
  local got
  {
    echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v INTEGER);"
    echo "BEGIN;"
    for i in $(seq 1 3000); do echo "INSERT INTO t(name, v) VALUES ('row$i', $((i * i)));"; done
    echo "COMMIT;"
    echo "WITH RECURSIVE c(x) AS (SELECT 3001 UNION ALL SELECT x + 1 FROM c WHERE x < 6000)"
    echo "  INSERT INTO t(name, v) SELECT 'row' || x, x * x FROM c;"
    echo "CREATE INDEX t_name ON t(name);"
    echo "SELECT count(*), sum(id), sum(v), sum(length(name)) FROM t;"
    echo "SELECT count(*) FROM t WHERE name LIKE 'row1%';"
    echo "SELECT v FROM t WHERE name = 'row4321';"
  } >"$out/script.sql"
  got=$(shim /usr/bin/sqlite3 "$out/db.sqlite" <"$out/script.sql") || fail "exit status"
  echo "$got"
  # 6000 rows: sum(id) = 6000*6001/2, sum(v) = sum of squares, name lengths 4..7 characters
  [ "$got" = $'6000|18003000|72018001000|40893\n1111\n18671041' ] || fail "results: $got"
  stats --min-allocs 1000
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

run_redis() {
  need /usr/bin/redis-server /usr/bin/redis-cli /usr/bin/redis-benchmark
  local port pid i got bench
  port=$(free_port) || fail "no free port"
  # env directly (not the shim function): $! must be the server's own pid
  env LD_PRELOAD="$lib" TALC_CONF="$conf" /usr/bin/redis-server --port "$port" \
    --bind 127.0.0.1 --save '' --appendonly no --dir "$out" --logfile "$out/redis.log" &
  pid=$!
  trap 'kill -9 $pid 2>/dev/null' EXIT
  for i in $(seq 1 100); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    kill -0 "$pid" 2>/dev/null || fail "redis-server died: $(cat "$out/redis.log")"
    sleep 0.1
  done
  [ "$(shim redis-cli -p "$port" set shim:key talc-value)" = OK ] || fail "SET"
  got=$(shim redis-cli -p "$port" get shim:key) || fail "GET"
  [ "$got" = talc-value ] || fail "GET returned $got"
  # -P 16: the same 160 000 commands (and about as many allocations in the server), 16 to a
  # round trip. One command per round trip made the test a measure of the machine's wake-up
  # latency: 5 s at a load average of about 5, but 42 to 116 s of its 120 s timeout while other
  # jobs loaded the 2-CPU VM (load average about 20 to 30, 2026-12-07); at load 24 the
  # benchmark alone took 47 s, and 7 s with -P 16.
  bench=$(shim /usr/bin/redis-benchmark -p "$port" -q -n 20000 -c 20 -P 16 -d 100 -r 10000 \
    -t set,get,incr,lpush,lpop,sadd,hset,mset) || fail "redis-benchmark exit status"
  echo "$bench"
  [ "$(grep -c 'requests per second' <<<"$bench")" -ge 8 ] || fail "redis-benchmark output"
  got=$(shim redis-cli -p "$port" get shim:key)
  [ "$got" = talc-value ] || fail "value changed under load: $got"
  [ "$(shim redis-cli -p "$port" dbsize)" -gt 1000 ] || fail "DBSIZE after the benchmark"
  shim redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "redis-server did not shut down"
  wait "$pid"
  trap - EXIT
  [ -f "$out/stats-$pid.json" ] || fail "redis-server wrote no statistics at exit"
  stats --min-allocs 10000
}

# One tool run twice, without and with the shim (no shell between: the statistics are the
# tool's own), its output files compared byte for byte; the statistics go to a directory of
# its own, checked for at least MIN allocations in the busiest process.
run_tool() {
  local name=$1 min=$2 dir=$out/$1
  shift 2
  mkdir -p "$dir" || fail "mkdir"
  env -u LD_PRELOAD "$@" >"$dir/want" || fail "$name: reference run"
  env LD_PRELOAD="$lib" TALC_CONF="stats=json,stats_file=$dir/stats-%p.json" "$@" >"$dir/got" ||
    fail "$name: exit status"
  cmp -s "$dir/want" "$dir/got" || fail "$name: output differs from the run without the shim"
  echo "$name: $(wc -c <"$dir/got") bytes, as without the shim"
  /usr/bin/python3 "$here/check_stats.py" "$dir" --min-allocs "$min" ||
    fail "$name: statistics check"
}

# Tools: coreutils' sort with a 256 KiB buffer (it merges through 36 temporary files;
# --parallel=2 starts no thread at this size), xz compressing on two threads and
# decompressing, and perl churning hashes and strings.
run_tools() {
  need /usr/bin/perl /usr/bin/sort /usr/bin/xz /usr/bin/cmp
  local lines=$out/lines.txt
  /usr/bin/perl -e 'srand(7); for (1 .. 100000) { printf "%d %s\n", int(rand(1e6)),
    join("", map { chr(97 + int(rand(26))) } 1 .. 1 + int(rand(30))) }' >"$lines" ||
    fail "input"
  run_tool sort 100 /usr/bin/sort --parallel=2 -S 256K -T "$out" -k2,2 -k1,1n "$lines"
  run_tool xz 100 /usr/bin/xz -T2 -2 --block-size=512KiB -c "$lines"
  run_tool unxz 50 /usr/bin/xz -T2 -dc "$out/xz/got"
  cmp -s "$lines" "$out/unxz/got" || fail "xz: the round trip changed the data"
  run_tool perl 100000 /usr/bin/perl -e 'my %h; my $n = 0;
    open(my $f, "<", $ARGV[0]) or die; while (<$f>) { my ($k, $w) = split; push @{$h{$w}}, $k; }
    for my $w (sort keys %h) { $n += @{$h{$w}}; $h{$w} = join(",", sort { $a <=> $b } @{$h{$w}}); }
    my $s = join(";", map { "$_=$h{$_}" } sort keys %h); (my $t = $s) =~ s/([a-m]+)=/<$1>/g;
    printf "%d %d %d %d %u %u\n", scalar(keys %h), $n, length($s), length($t),
      unpack("%32C*", $s), unpack("%32C*", $t);' "$lines"
}

case "$what" in
  python) run_python ;;
  git) run_git ;;
  sqlite) run_sqlite ;;
  redis) run_redis ;;
  tools) run_tools ;;
  *) echo "usage: run_programs.sh LIB OUTDIR python|git|sqlite|redis|tools" >&2; exit 2 ;;
esac
echo "run_programs.sh $what: ok"
