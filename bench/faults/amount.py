"""The one rule for a fault's or a link's amounts (AT, FOR, MS, JITTER): a finite number
of seconds or milliseconds, never below zero. Each caller names the part and the flag in
its own error line; what is wrong with the text is said here once."""

import math


def amount(text: str, unit: str = "") -> float:
    """`text` as a finite number >= 0; ValueError saying what it is not (with `unit`, e.g.
    "milliseconds", in the words)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        of = f" of {unit}" if unit else ""
        raise ValueError(f"must be a finite number{of} >= 0, got {text}")
    return value
