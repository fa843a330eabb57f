# bench/suite/report.awk — the suite's report: medians, ratios, geometric mean, JSON, chart data.
#
#   awk -F'\t' -f report.awk -v preset=… -v commit=… -v cpu=… -v cores=… -v kernel=…
#       -v arch=… -v date=… -v reps=… -v seconds=… -v order="talc glibc …" -v out=DIR
#       -v preloads="name=path;…" -v confs="name=TALC_CONF;…" -v sizes_file=SIZES.tsv
#       SIZES.tsv RAW.tsv  > suite.md
#
# SIZES.tsv: label, path, text bytes (run.sh library_sizes); sizes_file names it, so that an
# empty one (no library found) does not make RAW.tsv read as sizes. RAW.tsv: allocator, workload,
# threads, repetition, then the workload's "SUITE k=v …" and the launcher's "LAUNCH k=v …"
# lines joined (run.sh run_one). Writes DIR/suite-<preset>.json (one record per workload ×
# threads × allocator), DIR/suite-{time,rss,cache}.dat (gnuplot, charts.gp) and prints the
# Markdown summary. Every figure printed comes from RAW.tsv; nothing is assumed.
#
# Throughput is per second of wall time (higher is better); "time" is its inverse, so a time
# ratio A ÷ B is B's median throughput ÷ A's. The reference is talc when it ran, else glibc.
# The target's terms (libtalc ÷ best peer) are paired instead: the median over repetitions of
# the two allocators' ratio within one repetition (both ran seconds apart there), as the
# engine bench does; the ratio of medians is printed beside it. This host has phases in which
# every allocator runs at about half speed with full CPU time (so neither CPU time nor
# run-queue delay shows them); a phase that covers 3 of 5 runs of one allocator and 2 of
# another's flips a ratio of medians (mstress, 4 threads: 2.49 unpaired, 1.22 paired).
# Threading rules: single-threaded awk (mawk or gawk); no state outside this run.

# ---- Helpers ----------------------------------------------------------------------------------
function median(arr, n,    i, j, t, s) {
  if (n == 0) return ""
  for (i = 1; i <= n; i++) s[i] = arr[i]
  for (i = 2; i <= n; i++) { # insertion sort: n is the number of repetitions
    t = s[i]
    for (j = i - 1; j >= 1 && s[j] > t; j--) s[j + 1] = s[j]
    s[j + 1] = t
  }
  return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
}
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
function jnum(x) { return x == "" ? "null" : sprintf("%.6g", x) }
function jlist(arr, n,    i, s) {
  s = "["
  for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") sprintf("%.6g", arr[i])
  return s "]"
}
function fmt_rate(x) {
  if (x == "") return "n/a"
  if (x >= 1e6) return sprintf("%.2f M", x / 1e6)
  if (x >= 1e3) return sprintf("%.1f k", x / 1e3)
  return sprintf("%.0f", x)
}
function fmt_ratio(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
# x as printed with p decimals: a verdict is taken on the figure shown (1.004 is not > 1.00)
function shown(x, p) { return sprintf("%." p "f", x) + 0 }
function is_peer(a) { return a != "talc" && a != "talc-aligned" }
function key_of(s) { return substr(s, 1, index(s, "=") - 1) }
function value_of(s) { return substr(s, index(s, "=") + 1) }
function kv_split(s, sep, m,    n, i, parts) { # "k=v<sep>k=v…" -> m[k] = v
  n = split(s, parts, sep)
  for (i = 1; i <= n; i++) if (index(parts[i], "=")) m[key_of(parts[i])] = value_of(parts[i])
}
function ok_run(k) { return runs[k] && mrate[k] != "" }
# Median over the repetitions both ran of b's throughput ÷ a's in the same repetition: a's time
# ÷ b's, paired ("" if they share no repetition).
function paired_time_ratio(ka, kb,    r, n, tmp) {
  n = 0; delete tmp
  for (r = 1; r <= reps; r++)
    if ((ka, r) in reprate && (kb, r) in reprate && reprate[ka, r] > 0)
      tmp[++n] = reprate[kb, r] / reprate[ka, r]
  return median(tmp, n)
}
# The samples of one metric ("rate", "rss" or "cpu") of workload × threads × allocator k.
function collect(k, what, dst,    i) {
  for (i = 1; i <= nok[k]; i++)
    dst[i] = what == "rate" ? rate[k, i] : what == "rss" ? rss[k, i] : cpurate[k, i]
}
function med_of(k, what,    tmp) { delete tmp; collect(k, what, tmp); return median(tmp, nok[k] + 0) }

# ---- Input ------------------------------------------------------------------------------------
FILENAME == sizes_file { size_path[$1] = $2; size_text[$1] = $3; size_order[++nsizes] = $1; next }

{
  a = $1; w = $2; t = $3
  if (!(w in wseen)) { wseen[w] = 1; wl[++nw] = w }
  if (!(t in tseen)) { tseen[t] = 1; tl[++nt] = t }
  delete kv
  kv_split($5, " ", kv)
  k = w SUBSEP t SUBSEP a
  runs[k]++
  if (kv["status"] == "0" && kv["check"] == "ok" && kv["per_s"] != "") {
    m = ++nok[k]
    rate[k, m] = kv["per_s"] + 0
    reprate[k, $4 + 0] = kv["per_s"] + 0
    rss[k, m] = kv["maxrss_kib"] + 0
    cpu_s = kv["user_s"] + kv["sys_s"]
    cpurate[k, m] = cpu_s > 0 ? kv["units"] / cpu_s : 0
    unit[w] = kv["unit"]
    origin[k] = kv["malloc_from"]
  } else {
    why = kv["check"] == "FAIL" ? "check FAIL" : \
          kv["status"] == "" ? "no result" : "status " kv["status"]
    fails[k] = fails[k] (fails[k] == "" ? "" : ", ") "rep " $4 ": " why
    nfail++
  }
}

# ---- Aggregates -------------------------------------------------------------------------------
# Medians; per workload × threads the best peer and, with talc as reference, the target terms.
function prepare(    wi, ti, ai, i, k, kr, kb) {
  na = split(order, al, " ")
  ref = "glibc"
  for (i = 1; i <= na; i++) if (al[i] == "talc") ref = "talc"
  kv_split(preloads, ";", pre)
  kv_split(confs, ";", cnf)
  for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= nt; ti++) for (ai = 1; ai <= na; ai++) {
    k = wl[wi] SUBSEP tl[ti] SUBSEP al[ai]
    if (!runs[k]) continue
    mrate[k] = med_of(k, "rate"); mrss[k] = med_of(k, "rss"); mcpu[k] = med_of(k, "cpu")
  }
  ng = 0; lg = 0; lgu = 0; lgr = 0; nrss_ok = 0; nmiss = 0; failed_cells = ""
  for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= nt; ti++) {
    k = wl[wi] SUBSEP tl[ti]
    for (ai = 1; ai <= na; ai++) {
      kb = k SUBSEP al[ai]
      if (is_peer(al[ai]) && ok_run(kb) && (best[k] == "" || mrate[kb] > mrate[k SUBSEP best[k]]))
        best[k] = al[ai]
    }
    kr = k SUBSEP ref; kb = k SUBSEP best[k]
    if (ref == "talc" && best[k] != "" && !ok_run(kr)) { # a peer ran, libtalc did not: a MISS
      nmiss++ # (not nfail: that counts the failed runs, which md_failures lists)
      failed_cells = failed_cells (nmiss > 1 ? ", " : "") wl[wi] "/" tl[ti]
      continue
    }
    if (ref != "talc" || best[k] == "" || !ok_run(kr)) continue
    ng++
    gw[ng] = wl[wi] "/" tl[ti]; gb[ng] = best[k]
    gu[ng] = mrate[kb] / mrate[kr]; lgu += log(gu[ng])
    gr[ng] = paired_time_ratio(kr, kb)
    if (gr[ng] == "") gr[ng] = gu[ng]
    lg += log(gr[ng])
    grr[ng] = mrss[kb] > 0 ? mrss[kr] / mrss[kb] : 1; lgr += log(grr[ng])
    if (mrss[kr] <= mrss[kb]) nrss_ok++
  }
  machine = sprintf("{\"arch\": %s, \"cpu\": %s, \"cores\": %d, \"kernel\": %s}",
                    jstr(arch), jstr(cpu), cores, jstr(kernel))
}

# Time of allocator a ÷ the reference's on workload × threads k ("" if either has no result).
function time_ratio(k, a) {
  return ok_run(k SUBSEP a) && ok_run(k SUBSEP ref) && mrate[k SUBSEP a] > 0 ? \
         mrate[k SUBSEP ref] / mrate[k SUBSEP a] : ""
}

# ---- JSON -------------------------------------------------------------------------------------
function json_record(w, t, a,    k, s1, s2) {
  k = w SUBSEP t SUBSEP a
  collect(k, "rate", s1); collect(k, "rss", s2)
  return sprintf("  {\"workload\": %s, \"threads\": %d, \"allocator\": %s, \"ld_preload\": %s, " \
                 "\"talc_conf\": %s, \"malloc_from\": %s, \"metric\": \"per_s\", \"unit\": %s, " \
                 "\"higher_is_better\": true, \"value\": %s, \"samples\": %s, " \
                 "\"time_ratio_to_%s\": %s, \"peak_rss_kib\": %s, \"peak_rss_samples\": %s, " \
                 "\"units_per_cpu_s\": %s, \"runs\": %d, \"failed\": %s, \"preset\": %s, " \
                 "\"seconds\": %s, \"reps\": %d, \"commit\": %s, \"machine\": %s, \"date\": %s}",
                 jstr(w), t, jstr(a), jstr(pre[a]), jstr(cnf[a]), jstr(origin[k]),
                 jstr(unit[w] "/s"), jnum(mrate[k]), jlist(s1, nok[k] + 0),
                 ref, jnum(time_ratio(w SUBSEP t, a)), jnum(mrss[k]), jlist(s2, nok[k] + 0),
                 jnum(mcpu[k]), runs[k], fails[k] == "" ? "null" : jstr(fails[k]), jstr(preset),
                 seconds, reps, jstr(commit), machine, jstr(date))
}

function write_json(    json, first, wi, ti, ai) {
  json = out "/suite-" preset ".json"
  printf "[\n" > json
  first = 1
  for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= nt; ti++) for (ai = 1; ai <= na; ai++) {
    if (!runs[wl[wi] SUBSEP tl[ti] SUBSEP al[ai]]) continue
    printf "%s%s", first ? "" : ",\n", json_record(wl[wi], tl[ti], al[ai]) > json
    first = 0
  }
  printf "\n]\n" > json
  close(json)
}

# ---- Chart data (charts.gp) -------------------------------------------------------------------
function dat_header(file,    ai) {
  printf "config" > file
  for (ai = 1; ai <= na; ai++) printf " %s", al[ai] > file
  printf "\n" > file
}

function write_chart_data(    tdat, rdat, cdat, wi, ti, ai, k, k1, kt, r) {
  tdat = out "/suite-time.dat"; rdat = out "/suite-rss.dat"; cdat = out "/suite-cache.dat"
  dat_header(tdat); dat_header(rdat); dat_header(cdat)
  for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= nt; ti++) {
    k = wl[wi] SUBSEP tl[ti]
    if (!runs[k SUBSEP ref]) continue
    printf "%s/%s", wl[wi], tl[ti] > tdat; printf "%s/%s", wl[wi], tl[ti] > rdat
    for (ai = 1; ai <= na; ai++) {
      r = time_ratio(k, al[ai])
      printf " %s", r == "" ? "?" : sprintf("%.4g", r) > tdat
      kt = k SUBSEP al[ai]
      printf " %s", ok_run(kt) ? sprintf("%.4g", mrss[kt] / 1024) : "?" > rdat
    }
    printf "\n" > tdat; printf "\n" > rdat
  }
  for (wi = 1; wi <= nw; wi++) {
    if (wl[wi] !~ /^cache-/) continue
    for (ti = 1; ti <= nt; ti++) {
      printf "%s/%s", wl[wi], tl[ti] > cdat
      for (ai = 1; ai <= na; ai++) {
        k1 = wl[wi] SUBSEP 1 SUBSEP al[ai]; kt = wl[wi] SUBSEP tl[ti] SUBSEP al[ai]
        r = ok_run(kt) && ok_run(k1) && mrate[k1] > 0 ? sprintf("%.4g", mrate[kt] / mrate[k1]) : "?"
        printf " %s", r > cdat
      }
      printf "\n" > cdat
    }
  }
  close(tdat); close(rdat); close(cdat)
}

# ---- Markdown ---------------------------------------------------------------------------------
function md_header(    ai, a) {
  printf "## Allocator suite (preset %s)\n\n", preset
  printf "Commit %s, %s; %s, %d cores, kernel %s (%s). %d repetitions of %s s per workload × " \
         "threads × allocator, interleaved (allocator and thread-count order rotate every " \
         "repetition); medians.\n\n", commit, date, cpu, cores, kernel, arch, reps, seconds
  for (ai = 1; ai <= na; ai++) {
    a = al[ai]
    printf "- `%s`: %s%s\n", a,
           pre[a] == "" ? "system malloc (no LD_PRELOAD)" : "LD_PRELOAD=" pre[a],
           cnf[a] == "" ? "" : ", TALC_CONF=" cnf[a]
  }
  if (ref != "talc")
    printf "\n**libtalc was not measured (no libtalc-malloc.so): ratios are to glibc.**\n"
  printf "\n"
}

function md_throughput(    hdr, sep, wi, ti, ai, a, k, kr, line, cell, i) {
  printf "### Throughput of %s, and each allocator's time ÷ %s's\n\n", ref, ref
  printf "Time ratio = %s's median throughput ÷ the allocator's: above 1.00 the allocator is " \
         "slower than %s. The last column is paired by repetition (see the target). (!) = some " \
         "runs failed (listed at the end).\n\n", ref, ref
  hdr = "| workload | threads | " ref " (per s) |"; sep = "|---|---:|---:|"
  for (ai = 1; ai <= na; ai++) if (al[ai] != ref) { hdr = hdr " " al[ai] " |"; sep = sep "---:|" }
  print hdr " best peer | " ref " ÷ best |"
  print sep "---|---:|"
  i = 0
  for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= nt; ti++) {
    k = wl[wi] SUBSEP tl[ti]; kr = k SUBSEP ref
    if (!runs[kr]) continue
    line = "| " wl[wi] " | " tl[ti] " | " \
           (ok_run(kr) ? fmt_rate(mrate[kr]) " " unit[wl[wi]] : "FAILED") \
           (fails[kr] != "" && ok_run(kr) ? " (!)" : "") " |"
    for (ai = 1; ai <= na; ai++) {
      a = al[ai]
      if (a == ref) continue
      cell = !runs[k SUBSEP a] ? "" : ok_run(k SUBSEP a) ? fmt_ratio(time_ratio(k, a)) : "FAILED"
      if (fails[k SUBSEP a] != "" && ok_run(k SUBSEP a)) cell = cell " (!)"
      line = line " " cell " |"
    }
    if (ref == "talc" && best[k] != "" && ok_run(kr)) cell = fmt_ratio(gr[++i])
    else cell = "n/a"
    print line " " best[k] " | " cell " |"
  }
  printf "\n"
}

function md_rss(    hdr, sep, wi, ti, ai, k, line, any) {
  printf "### Peak RSS (MiB, median of the runs' ru_maxrss)\n\n"
  hdr = "| workload | threads |"; sep = "|---|---:|"
  for (ai = 1; ai <= na; ai++) { hdr = hdr " " al[ai] " |"; sep = sep "---:|" }
  print hdr
  print sep
  for (wi = 1; wi <= nw; wi++) for (ti = 1; ti <= nt; ti++) {
    line = "| " wl[wi] " | " tl[ti] " |"; any = 0
    for (ai = 1; ai <= na; ai++) {
      k = wl[wi] SUBSEP tl[ti] SUBSEP al[ai]
      if (runs[k]) any = 1
      line = line " " (!runs[k] ? "" : ok_run(k) ? sprintf("%.1f", mrss[k] / 1024) : "FAILED") " |"
    }
    if (any) print line
  }
  printf "\n"
}

function md_target(    gm, i) {
  printf "### Target: geometric mean of libtalc time ÷ best peer's time ≤ 1.0, peak RSS no " \
         "higher than that peer's\n\n"
  if (ng == 0) {
    printf "Not computed: libtalc did not run (or failed everywhere).\n\n"
    return
  }
  gm = exp(lg / ng)
  printf "**%s**: geometric mean over %d workload × threads of libtalc time ÷ best peer's " \
         "time = **%.3f** (paired by repetition; ratio of medians: %.3f); peak RSS ≤ that " \
         "peer's in %d of %d (geometric mean of libtalc RSS ÷ that peer's RSS = %.3f).\n\n",
         (shown(gm, 3) <= 1.0 && nrss_ok == ng && nmiss == 0 && nfail == 0) ? "PASS" : "MISS", ng, gm,
         exp(lgu / ng),
         nrss_ok, ng, exp(lgr / ng)
  if (nmiss > 0)
    printf "libtalc failed every repetition of %d workload × threads where a peer ran (%s): " \
           "left out of the mean, and the target is a MISS.\n\n", nmiss, failed_cells
  if (nfail > 0)
    printf "%d runs failed (listed at the end): a peer that failed drops out of \"best peer\" " \
           "where it failed every repetition, so the target is a MISS until they pass.\n\n", nfail
  printf "Best peer = the highest median throughput. Time ÷ best = the median over repetitions " \
         "of the two runs' ratio in the same repetition; the ratio of the medians is beside " \
         "it.\n\n"
  printf "| workload/threads | best peer | time ÷ best | ratio of medians | RSS ÷ best's |\n" \
         "|---|---|---:|---:|---:|\n"
  # (the RSS target counts KiB: a ratio that rounds to 1.00 may still be above, so say so)
  for (i = 1; i <= ng; i++)
    printf "| %s | %s | %.2f | %.2f | %.2f%s |\n", gw[i], gb[i], gr[i], gu[i], grr[i],
           (grr[i] > 1 ? " (above)" : "")
  printf "\n"
}

function md_cache(    wi, ai, a, w, k1, k2, k4, r2, c2, r4, verdict) {
  printf "### False sharing: cache-scratch and cache-thrash, N threads ÷ 1 thread\n\n"
  printf "Throughput ratio (wall time; with no false sharing 2 threads do ≥ the work of 1, " \
         "about 2× on 2 idle cores), and per CPU-second (units ÷ process CPU time; near 1.00 " \
         "without false sharing, but CPU time stolen by the host or other processes blurs it). " \
         "Target: libtalc with cache-aligned mode, 2 threads no slower than 1 (wall ratio ≥ " \
         "1.00).\n\n"
  printf "| workload | allocator | 1 thread (per s) | 2 ÷ 1 wall | 2 ÷ 1 per CPU-s | 4 ÷ 1 wall " \
         "| 2 threads no slower |\n|---|---|---:|---:|---:|---:|---|\n"
  for (wi = 1; wi <= nw; wi++) {
    w = wl[wi]
    if (w !~ /^cache-/) continue
    for (ai = 1; ai <= na; ai++) {
      a = al[ai]; k1 = w SUBSEP 1 SUBSEP a; k2 = w SUBSEP 2 SUBSEP a; k4 = w SUBSEP 4 SUBSEP a
      if (!ok_run(k1)) continue
      r2 = ok_run(k2) ? mrate[k2] / mrate[k1] : ""
      c2 = ok_run(k2) && mcpu[k1] > 0 ? mcpu[k2] / mcpu[k1] : ""
      r4 = ok_run(k4) ? mrate[k4] / mrate[k1] : ""
      verdict = r2 == "" ? "n/a" : shown(r2, 2) >= 1.0 ? "yes" : "no"
      if (a == "talc-aligned" && r2 != "") verdict = verdict (verdict == "yes" ? " (PASS)" : " (MISS)")
      printf "| %s | %s | %s | %s | %s | %s | %s |\n", w, a, fmt_rate(mrate[k1]), fmt_ratio(r2),
             fmt_ratio(c2), fmt_ratio(r4), verdict
    }
  }
  printf "\n"
}

function md_sizes(    i, l, verdict) {
  printf "### Library text size (`size`, Berkeley text column; target libtalc.so ≤ 64 KiB)\n\n"
  printf "| library | text (KiB) | text (bytes) | path |\n|---|---:|---:|---|\n"
  for (i = 1; i <= nsizes; i++) {
    l = size_order[i]
    verdict = l != "libtalc.so" ? "" : size_text[l] <= 65536 ? " (PASS)" : " (MISS)"
    printf "| %s | %.1f%s | %d | %s |\n", l, size_text[l] / 1024, verdict, size_text[l],
           size_path[l]
  }
  if (!("libtalc.so" in size_text)) printf "| libtalc.so | not built | | |\n"
  printf "\n"
}

function md_failures(    k, p) {
  if (!nfail) return
  printf "FAILED runs (%d): a workload's own check failed, it crashed or it timed out; its " \
         "medians use the runs that passed.\n\n", nfail
  for (k in fails) {
    if (fails[k] == "") continue
    split(k, p, SUBSEP)
    printf "- %s t=%s %s: %s\n", p[1], p[2], p[3], fails[k]
  }
  printf "\n"
}

END {
  prepare()
  write_json()
  write_chart_data()
  md_header()
  md_throughput()
  md_rss()
  md_target()
  md_cache()
  md_sizes()
  md_failures()
}
