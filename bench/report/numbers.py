"""Numbers as the reports print them: each figure in its unit, with the precision its
size deserves, and never reading better than it is.

Pure formatting, shared by the run report, the sweep report, compare and the tuner.
"""

from __future__ import annotations

import math
from typing import Any

from bench.analysis.staleness import nines

NONE = "-"  # a figure that does not apply (NaN in the summary)


def missing(value: Any) -> bool:
    """None or NaN: analysis writes NaN where a figure does not apply."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def positive(value: Any) -> bool:
    """A figure that is there and above zero (NaN is truthy, so `if value` will not do)."""
    return not missing(value) and value > 0


def fmt_ms(value: Any) -> str:
    """Milliseconds with the precision their size deserves: 0.25, 1.2, 31, 29,870."""
    if missing(value):
        return NONE
    if math.isinf(value):
        return "> cap"  # a censored probe tail: the quantile lies beyond the probe's cap
    if abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 1 else f"{value:.1f}"


def fmt_pct(ratio: Any) -> str:
    """A 0..1 ratio as a percentage, two significant digits when small: 94.1%, 0.020%."""
    if missing(ratio):
        return NONE
    value = ratio * 100
    if value == 0:
        return "0%"
    decimals = 1 if abs(value) >= 1 else 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{decimals}f}%"


def fmt_int(value: Any) -> str:
    return NONE if missing(value) else f"{int(value):,}"


def fmt_number(value: Any) -> str:
    """A count or a rate: whole above 100 (`1,234`), else three digits (`4.84`, `12.8`),
    never truncated, so a p99 herd of 4.84 does not read as 4."""
    if missing(value) or math.isinf(value):
        return NONE if missing(value) else str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def fmt_figure(column: str, value: Any) -> str:
    """A summary figure in its unit, which its name carries: `_ms`, `_ratio`, else a count
    or a rate."""
    if column.endswith("_ratio"):
        return fmt_pct(value)
    return fmt_ms(value) if "_ms" in column else fmt_number(value)


def format_share(share: float) -> str:
    """A share (0..1) as a percentage that shows its nines and never rounds up.

    0.999 -> "99.9%", 0.9995 -> "99.95%", 0.95 -> "95%", 1.0 -> "100%". Truncating,
    not rounding, so a share never reads better than it is (0.99949 -> "99.94%").
    """
    if share >= 1.0:
        return "100%"
    decimals = max(0, math.ceil(round(nines(share), 9)) - 2)
    scale = 10**decimals
    percent = math.floor(share * 100 * scale + 1e-9) / scale
    return f"{percent:.{decimals}f}%"


def format_duration_ms(t_ms: float) -> str:
    """`0 ms`, `100 ms`, `1 s`, `10 s`: milliseconds below one second, seconds above."""
    if t_ms >= 1000:
        return f"{t_ms / 1000:g} s"
    return f"{t_ms:g} ms"


def fmt_interval(column: str, mean: float, half_width: float) -> str:
    """`94.1% ± 0.32 pp`, `3.1 ± 0.4`: a mean in its unit, with its 95% half-width if any.

    Ratios get their width in percentage points, since a % of a % reads ambiguously.
    """
    text = fmt_figure(column, mean)
    if missing(half_width) or missing(mean) or math.isinf(mean):
        return text
    if column.endswith("_ratio"):
        return f"{text} ± {half_width * 100:.2g} pp"
    return f"{text} ± {fmt_figure(column, half_width)}"


def n_replicas(count: int) -> str:
    """`1 replica`, `4 replicas`."""
    return f"{count} replica{'s' if count != 1 else ''}"
