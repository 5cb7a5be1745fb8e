"""The service's own speed, apart from the experiment: `bench perf-service`.

`service` serves one replica per strategy and measures, with wrk, the cached read paths
against bare endpoints that `app` adds to the service for this measurement only.
"""
