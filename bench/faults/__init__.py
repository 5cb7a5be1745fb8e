"""Faults on demand, as Jepsen's nemesis: a schedule of faults is data, applied by the
runtime during the load, and recorded in the run folder before anything is analysed.

- `kinds`: what each kind does, a few lines each, through the `FaultTarget` a runtime
  gives for one strategy (kill, pause, cut a link, slow the origin)
- `spec`: `KIND@AT[+FOR][:ARG]` parsed and checked against the run
- `injector`: applies a schedule at its times and records what it did (faults.csv)
- `proxy`: the small TCP proxy a partition cuts (`python -m bench.faults.proxy`)
"""
