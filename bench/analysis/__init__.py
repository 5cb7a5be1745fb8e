"""Analysis: pure functions from a run folder's recorded rows to figures.

Nothing here talks to a live system or imports the runtime or the report: a stored run
can be re-analysed at any time, and each function is tested on small literal tables.

- `tables`: reading the raw rows (one schema each) and the derived CSVs
- `staleness`: the checker, a verdict and a stale age per read; t-visibility
- `summary`: per strategy, latency, hits, staleness and probe figures; summary.csv
- `sweep_summary`: a sweep's cells stacked into one table
- `repeats`: means and 95% intervals over a sweep's repeats
- `tune`: the largest TTL within a staleness budget, and a recommendation
- `numbers`: figures as the reports print them
"""
