"""Speed apart from the experiment: the service's own (`bench perf-service`) and the
analysis's at scale (`bench perf-analysis`, module `analysis`).

`service` serves one replica per strategy and measures, with wrk, the cached read paths
against bare endpoints that `app` adds to the service for this measurement only.
"""
