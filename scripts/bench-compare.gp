# SPDX-License-Identifier: Apache-2.0
# Plots for scripts/bench-compare.sh. Called with -e "base='NAME'; dat='DIR'" from the
# output directory; DIR holds tput.dat and <workload>.list files (system path-to-curve) that
# scripts/bench-compare-report.py wrote. Writes NAME-throughput.png and NAME-<workload>.png.
set terminal pngcairo size 1200,520 font "sans,10"
set datafile separator whitespace

# ---- throughput bars per system: records/s and MB/s, one cluster per system ----
set output base.'-throughput.png'
set multiplot layout 1,2 title "Produce, maximum throughput (best of 2 rounds)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right font ",8"
set grid ytics
set xtics rotate by -30 font ",9"
set ylabel "records/s"
set logscale y
set format y "%.0s%c"
plot for [c=2:5] dat.'/tput.dat' index 0 using c:xtic(1) title columnheader(c)
set ylabel "MB/s (record payload)"
plot for [c=2:5] dat.'/tput.dat' index 1 using c:xtic(1) title columnheader(c)
unset multiplot
unset logscale y
unset style
set format y "%g"
set xtics norotate font ",10"

# ---- latency percentile curves, one line per system ----
set logscale x
set logscale y
set xlabel "percentile"
set ylabel "latency"
set format y "%.0s %cs"
set xrange [1.2:3e7]
set xtics ("50" 2, "90" 10, "99" 100, "99.9" 1000, "99.99" 10000, "99.999" 100000, "max" 1e7)
set key bottom right box opaque
set grid xtics ytics
set style data linespoints
do for [wl in "lat-10pct lat-50pct lat-80pct e2e-50pct"] {
	lst = dat.'/'.wl.'.list'
	if (system('test -s '.lst.' && echo y') eq "y") {
		names = system("awk '{print $1}' ".lst)
		files = system("awk '{print $2}' ".lst)
		set output base.'-'.wl.'.png'
		set title sprintf("%s: 1 KiB records, 1 partition (latency from intended send time)", wl)
		plot for [i=1:words(files)] word(files, i) using 3:($2 * 1e-6) every ::1 title word(names, i) lw 2
	}
}
