"""`--link-delay redis=MS[~JITTER][,origin=MS[~JITTER]]`: a standing delay on the links
from the replicas to Redis and to the origin, as data.

The suite's TCP proxy (`bench.faults.proxy`) holds each answer on a delayed link MS
milliseconds, plus a uniform jitter in [0, JITTER], so a round trip gains about MS (the
requests go through unheld). `redis=0` puts the proxy on the link with no delay: the
hop alone, a baseline for a delayed run. A bad spec is refused with one line naming the
part that is wrong, before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.faults.amount import amount

LINKS = ("redis", "origin")
LINK_WORDS = {"redis": "Redis", "origin": "the origin"}
# A slow link, not an outage: the replicas' Redis calls time out after 1 s, so a longer
# hold would measure timeouts (an outage is --fault redis-partition).
MAX_HOLD_MS = 500.0
FORM = "LINK=MS[~JITTER][,LINK=MS[~JITTER]] with LINK redis or origin"


class LinkDelaySpecError(ValueError):
    """A --link-delay that cannot be applied; the message is one line naming the part."""


@dataclass(frozen=True)
class LinkDelay:
    link: str  # one of LINKS
    ms: float  # each answer held this long
    jitter_ms: float = 0.0  # plus a uniform draw in [0, jitter_ms]

    @property
    def spec(self) -> str:
        """As it would be typed: `redis=3~1`."""
        return f"{self.link}={self.ms:g}" + (f"~{self.jitter_ms:g}" if self.jitter_ms else "")

    @property
    def words(self) -> str:
        """For a reader: `to Redis 3 ms (+ up to 1 ms jitter)`."""
        jitter = f" (+ up to {self.jitter_ms:g} ms jitter)" if self.jitter_ms else ""
        return f"to {LINK_WORDS[self.link]} {self.ms:g} ms{jitter}"


def _ms(text: str, part: str, spec: str) -> float:
    try:
        return amount(text, "milliseconds")
    except ValueError as wrong:
        raise LinkDelaySpecError(f"--link-delay {spec}: {part} {wrong}") from None


def parse_link_delay(spec: str) -> tuple[LinkDelay, ...]:
    """`redis=3~1,origin=2`: one delay per named link, in the order of LINKS."""
    found: dict[str, LinkDelay] = {}
    items = spec.split(",")
    for item in items:
        link, equals, value = item.strip().partition("=")
        if not equals or not link or not value:
            raise LinkDelaySpecError(f"--link-delay {spec!r}: expected {FORM}")
        if link not in LINKS:
            raise LinkDelaySpecError(f"--link-delay {spec}: unknown link {link!r}; choose from"
                                     f" {', '.join(LINKS)}")  # fmt: skip
        if link in found:
            raise LinkDelaySpecError(f"--link-delay {spec}: {link} is given twice")
        delay, tilde, jitter = value.partition("~")
        if tilde and not delay.strip():
            raise LinkDelaySpecError(f"--link-delay {spec}: {link}: a jitter needs a delay"
                                     f" ({link}=MS~JITTER, MS above 0)")  # fmt: skip
        ms = _ms(delay, f"{link}: MS", spec)
        jitter_ms = _ms(jitter, f"{link}: JITTER", spec) if tilde else 0.0
        if jitter_ms and not ms:
            raise LinkDelaySpecError(f"--link-delay {spec}: {link}: a jitter needs a delay"
                                     f" ({link}=MS~JITTER, MS above 0)")  # fmt: skip
        if ms + jitter_ms > MAX_HOLD_MS:
            raise LinkDelaySpecError(
                f"--link-delay {spec}: {link}: MS + JITTER must be at most {MAX_HOLD_MS:g} ms"
                " (a slow link, not an outage)"
            )
        found[link] = LinkDelay(link, ms, jitter_ms)
    return tuple(found[link] for link in LINKS if link in found)


def link_delay_spec(delays: tuple[LinkDelay, ...]) -> str:
    """The delays as one `--link-delay` value (run.json records it so)."""
    return ",".join(delay.spec for delay in delays)
