"""PlotBurn benchmarks (issue 5): ``make bench`` = ``python -m bench``; see bench/RESULTS.md."""
