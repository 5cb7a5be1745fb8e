"""The instrument's own known answer: a delay put in on purpose is what the probe and the
staleness checker measure.

`subscriber-delay` makes every `pubsub` replica apply each invalidation it hears 50 ms
late; the writer drops its own copy at once. So on the replicas that did not write, the
new version appears 50 ms after the invalidation was published (give or take the
pub/sub hop, and the write's own answer, which the ack waits for), and no read can be
stale for longer than that.
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.analysis.summary import analyse
from bench.analysis.tables import load_probe

pytestmark = pytest.mark.run  # starts real runs: make test-fast leaves it out

DELAY_MS = 50.0
SLACK_MS = 5.0  # the pub/sub hop: a replica hears the publish that much after the ack
FAULT = f"subscriber-delay@2+7:{DELAY_MS:g}"
RUN = [sys.executable, "-m", "bench", "run", "--strategies", "pubsub", "--replicas", "2",
       "--duration", "10", "--rate", "200", "--fault", FAULT]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("calibration")
    done = subprocess.run([*RUN, "--results", str(results)], capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [folder] = results.iterdir()
    return folder


def delayed_cycles(folder: Path) -> pd.DataFrame:
    """Probe rows of the replicas that did not write, in cycles acknowledged while the delay
    was on (a margin inside it at each end)."""
    probe, _ = load_probe(folder)
    fault = pd.read_csv(folder / "faults.csv").iloc[0]
    inside = (probe["ack_ns"] > fault["started_ns"] + 2e8) & (
        probe["ack_ns"] < fault["ended_ns"] - 2e8
    )
    return probe[inside & (probe["replica"] != probe["writer"]) & ~probe["censored"]]


def test_the_probe_brackets_the_delay_on_the_replicas_that_did_not_write(run: Path) -> None:
    rows = delayed_cycles(run)
    assert len(rows) >= 20, "enough probe cycles while the delay was on"
    # fresh no sooner than the delay after the write's send, which precedes its publish:
    # exact on the probe's own clock, where the ack's lead over the publish is unbounded
    # on a loaded machine (a CI run saw 6 ms)
    since_send = rows["convergence_ms"] - rows["sent_ms"]
    assert (since_send >= DELAY_MS).all(), since_send.min()
    # and stale no later than the delay after it, plus the hop
    assert (rows["convergence_lo_ms"] <= DELAY_MS + SLACK_MS).all(), rows["convergence_lo_ms"].max()


def test_no_stale_read_is_older_than_the_delay(run: Path) -> None:
    reads = analyse(run).reads
    ages = reads.loc[reads["stale"].astype(bool), "stale_age_ms"]
    assert len(ages) > 0, "the delay made some reads stale"
    assert ages.max() <= DELAY_MS + SLACK_MS
