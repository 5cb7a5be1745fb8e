"""The probe: how long after a write's acknowledgement does each replica serve it?

Runs as its own process beside the load, on probe-only products that no
scenario reads or writes. One cycle: warm the key on every replica until each
answers from its cache; write it through one replica (round robin); poll every
replica every POLL_MS until it returns the new version or more.

A poll sent at s and answered at r saw the replica at some instant in [s, r], so
a replica turned fresh between the send of its last stale poll and the answer
of its first fresh one. Both are recorded relative to the write's ack:
`convergence_ms` (first fresh answer - ack, the upper bound quoted in the
summary) and `convergence_lo_ms` (last stale send - ack, 0 when no poll after
the ack saw stale data). A cycle that reaches its cap is recorded as censored.

`python -m bench.probe` (a contract: the compose runtime runs it in a container) is
`__main__`; `cycle` holds what a cycle saw and its arithmetic (pure, imported by
analysis for the row schema); `poller` does the polling.
"""
