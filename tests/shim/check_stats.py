"""check_stats.py — verify the statistics files the malloc shim wrote at exit (TALC_CONF
stats=json, stats_file=DIR/stats-%p.json): each one is valid JSON from talc_stats_write, and
the default arena of at least one of them served allocations, which proves the shim was in use.
--budget N: the default arena's hard budget is N; --live-zero: no arena has a live block in any
file (a program that freed everything; the shim's own exit-time allocations must not count).

Usage: /usr/bin/python3 check_stats.py DIR [--arena NAME]... [--stripes N] [--min-allocs N]
                                       [--budget N] [--live-zero]
Exit status 0 iff every check holds; the reason is printed otherwise. Run it with Debian's
/usr/bin/python3 and without LD_PRELOAD (it checks, it is not under test).
"""
import glob
import json
import sys


def main(argv):
    if len(argv) < 2:
        print("usage: check_stats.py DIR [--arena NAME]... [--stripes N] [--min-allocs N]")
        return 2
    directory, args = argv[1], argv[2:]
    arenas, stripes, min_allocs, budget, live_zero = [], None, 1, None, False
    while args:
        if args[0] == "--live-zero":
            live_zero, args = True, args[1:]
            continue
        key, value, args = args[0], args[1], args[2:]
        if key == "--budget":
            budget = int(value)
        elif key == "--arena":
            arenas.append(value)
        elif key == "--stripes":
            stripes = int(value)
        elif key == "--min-allocs":
            min_allocs = int(value)
        else:
            print("check_stats.py: unknown option", key)
            return 2
    files = sorted(glob.glob(directory + "/stats-*.json"))
    if not files:
        print("check_stats.py: no statistics file in", directory, "(was the shim loaded?)")
        return 1
    best = None
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print("check_stats.py: %s is not valid JSON: %s" % (name, e))
            return 1
        by_name = {a["name"]: a for a in doc["arenas"]}
        if "default" not in by_name:
            print("check_stats.py: %s has no default arena" % name)
            return 1
        live = [(a["name"], a["live_bytes"], a["live_allocs"]) for a in doc["arenas"]
                if a["live_bytes"] or a["live_allocs"]]
        if live_zero and live:
            print("check_stats.py: %s: live blocks at exit (name, bytes, blocks): %s"
                  % (name, live))
            return 1
        if best is None or by_name["default"]["allocs"] > best[1]["default"]["allocs"]:
            best = (name, by_name)
    name, by_name = best
    d = by_name["default"]
    print("check_stats.py: %d file(s); busiest %s: default arena %d allocs, %d frees, "
          "peak %d bytes, %d stripes" % (len(files), name, d["allocs"], d["frees"],
                                          d["peak_bytes"], d["stripes"]))
    if d["allocs"] < min_allocs:
        print("check_stats.py: the default arena served %d allocations (< %d): shim not used?"
              % (d["allocs"], min_allocs))
        return 1
    if stripes is not None and d["stripes"] != stripes:
        print("check_stats.py: default arena has %d stripes, TALC_CONF said %d"
              % (d["stripes"], stripes))
        return 1
    if budget is not None and d["hard_budget"] != budget:
        print("check_stats.py: default arena's hard budget is %d, TALC_CONF said %d"
              % (d["hard_budget"], budget))
        return 1
    for a in arenas:
        if a not in by_name:
            print("check_stats.py: arena %s (from TALC_CONF) missing in %s" % (a, name))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
