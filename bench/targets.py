"""A service the suite did not start: its replicas' base URLs, checked before any request.

`bench run --runtime external --targets` and `bench contract --targets` (and verify's
`--targets`) read them here, so each is refused the same way, in one line that names the
URL and what is wrong with it.
"""

from __future__ import annotations

import urllib.parse

CONTRACT_DEADLINE_S = 30.0  # the whole contract check, default of `bench contract --deadline`


class BadTarget(ValueError):
    """A target URL the suite will not send to; the message is one line naming it."""


def check_target(text: str) -> str:
    """`text` as a replica's base URL, `http(s)://host[:port][/base/path]` without the
    trailing slash; BadTarget saying what is wrong otherwise."""
    url = text.strip().rstrip("/")

    def bad(why: str) -> BadTarget:
        return BadTarget(f"bad target {text.strip()!r}: {why}")

    if not url:
        raise bad("an empty URL")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise bad("a space or control character in the URL")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is no number or past 65535, a broken [IPv6]
        if "port" in str(exc).lower():
            raise bad("port must be 1-65535") from None
        raise bad("a broken [IPv6] host" if "IPv6" in str(exc) else str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise bad("the scheme must be http or https, as in http://host:port")
    if "@" in parts.netloc:
        raise bad("no user:password@ in a target; the suite sends no credentials")
    if not parts.hostname:
        raise bad("no host")
    if port == 0 or parts.netloc.endswith(":"):
        raise bad("port must be 1-65535")
    if parts.query or "?" in url:
        raise bad("a query (?...) has no place in a base URL")
    if parts.fragment or "#" in url:
        raise bad("a fragment (#...) has no place in a base URL")
    return url


def parse_targets(text: str) -> tuple[str, ...]:
    """`URL[,URL...]`, each checked; BadTarget for a bad one, none, or one given twice."""
    targets = tuple(check_target(item) for item in text.split(",") if item.strip())
    if not targets:
        raise BadTarget("at least one URL")
    if len(set(targets)) != len(targets):
        raise BadTarget("a URL is listed twice")
    return targets
