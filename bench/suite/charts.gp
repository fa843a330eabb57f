# bench/suite/charts.gp — the suite's PNG charts (gnuplot), from report.awk's .dat files.
#
#   gnuplot -e "dat='suite-time.dat'; png='suite-time.png'; kind='time'" charts.gp
#
# kind = time   time relative to the reference allocator (talc, else glibc), log scale
#        rss    peak RSS in MiB, log scale
#        cache  cache-scratch / cache-thrash throughput at N threads ÷ at 1 thread
# The .dat files have one row per workload/threads and one column per allocator ("?" = none).
# Threading rules: none; run.sh runs one gnuplot process per chart, one after the other.
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top vertical autotitle columnhead
set xtics rotate by -35 left nomirror
set xrange [-0.7:*]
ncols = int(system("head -1 '" . dat . "' | wc -w"))
nrows = int(system("wc -l < '" . dat . "'")) - 1
ref = system("head -1 '" . dat . "' | awk '{ print $2 }'")
# about 9 pixels per bar, so 27 clusters of 7 allocators stay readable
width = nrows * (ncols - 1) * 9 + 400
set terminal pngcairo size (width < 1000 ? 1000 : width),640 noenhanced font "DejaVu Sans,11"
set output png
if (kind eq "time") {
  set title "Allocator suite: time relative to " . ref . " (median; lower is better)"
  set ylabel "time ÷ " . ref . "'s"
  set logscale y 2
} else {
  if (kind eq "rss") {
    set title "Allocator suite: peak RSS (median of runs; lower is better)"
    set ylabel "MiB"
    set logscale y 2
  } else {
    set title "False sharing: throughput at N threads ÷ at 1 thread " . \
              "(higher is better; ≥ 1 at 2 threads = no penalty)"
    set ylabel "N threads ÷ 1 thread"
    set yrange [0:*]
    set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb "black"
  }
}
plot for [c=2:ncols] dat using c:xtic(1)
