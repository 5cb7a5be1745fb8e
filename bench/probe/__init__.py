"""The probe: how long after a write's acknowledgement does each replica serve it?

Runs as its own process beside the load, on probe-only products that no
scenario reads or writes. One cycle: warm the key on every replica until each
answers from its cache; write it through one replica (round robin) and, from the
moment the write is sent, poll every replica every POLL_MS until it returns the
new version (the warm version + 1: the probe alone writes these products).

A poll sent at s and answered at r saw the replica at some instant in [s, r], so
a replica turned fresh between the send of its last stale poll and the answer
of its first fresh one. Both are recorded relative to the write's ack:
`convergence_ms` (first fresh answer - ack, the upper bound quoted in the
summary) and `convergence_lo_ms` (last stale send - ack; the write's send when
no poll was stale). Polling through the write lets either be negative: a replica
fresh before the ack reached the probe is bracketed, not clamped to the ack. A
cycle that reaches its cap is recorded as censored.

Nothing a replica does stops the probe (see `poller`): a request that brings no version
(no answer in time, a redirect, which is never followed, another status, a body without
a top-level version) is an error of that replica in that cycle, counted in the row's
`errors`, and censors the row. It stops early only when it cannot go on (no replica
answered at all in its first seconds, or a fault of its own), and then says so: exit 1,
and a status file beside its CSV that the harness records in run.json as the strategy's
`probe_stopped`.

`python -m bench.probe` (a contract: the compose runtime runs it in a container) is
`__main__`; `cycle` holds what a cycle saw and its arithmetic (pure, imported by
analysis for the row schema); `poller` does the polling; `status` is how it ended
(pure, read by the harness).
"""
