"""A sweep's matrix: strategy (x its varied options) x TTL x replicas x repeat, as data,
expanded in one place.

`SweepConfig` lists the values and what every cell shares; `expand_matrix` turns them
into cells, in the order they run; `SweepConfig.cell_config` makes one cell's ordinary
single-strategy run config.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.analysis.budget import LIMITS
from bench.layout import RunFolder
from bench.run_config import ConfigError, RunConfig
from services.strategies import STRATEGIES, OptionValue

if TYPE_CHECKING:  # the tuner's budget, recorded in run.json; the matrix needs no pandas
    from bench.analysis.budget import Budget


@dataclass(frozen=True)
class Cell:
    """One point of the matrix: a single-strategy run of `duration_s` seconds."""

    strategy: str
    ttl_s: float
    replicas: int
    repeat: int
    options: tuple[tuple[str, OptionValue], ...] = ()  # the varied options' values, by name

    @property
    def id(self) -> str:
        """The cell's folder name, e.g. `pubsub-ttl5-n2-r0` or `xfetch-beta2-ttl5-n2-r0`;
        unique within a sweep."""
        varied = "".join(f"-{name}{_short(value)}" for name, value in self.options)
        return f"{self.strategy}{varied}-ttl{self.ttl_s:g}-n{self.replicas}-r{self.repeat}"

    @property
    def variant(self) -> str:
        """The strategy as the sweep's tables name it: with its varied options, if any, so
        two betas of `xfetch` stand as two rows, e.g. `xfetch beta=2`."""
        return " ".join([self.strategy, *(f"{n}={_short(v)}" for n, v in self.options)])

    @property
    def label(self) -> str:
        return f"{self.variant} ttl={self.ttl_s:g} replicas={self.replicas} repeat={self.repeat}"


def _short(value: OptionValue) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value).lower()


@dataclass(frozen=True)
class SweepConfig:
    """The matrix and what every cell shares.

    `base` carries the shared parameters (strategies, scenario, duration, users, rate,
    seed, ...); its own `ttl_s` and `replicas` are ignored, each cell sets its own.
    `budget`, if any, is what the tuner checks the finished sweep against.
    """

    base: RunConfig
    ttls_s: tuple[float, ...]
    replicas: tuple[int, ...]
    repeats: int = 1
    budget: Budget | None = None
    # strategy options as more axes: (`strategy.option`, its values), from `--vary`
    variations: tuple[tuple[str, tuple[OptionValue, ...]], ...] = ()

    def __post_init__(self) -> None:
        for option, values, low in [
            ("--ttls", self.ttls_s, 0.001),
            ("--replicas", self.replicas, 1),
        ]:
            if not values:
                raise ConfigError(f"{option}: give at least one value")
            if any(not math.isfinite(v) or v < low for v in values):
                raise ConfigError(f"{option}: every value must be at least {low}, got {values}")
            if len(set(values)) != len(values):
                raise ConfigError(f"{option}: a value is listed twice")
        if self.repeats < 1:
            raise ConfigError(f"--repeats must be at least 1, got {self.repeats}")
        for replicas in self.replicas:  # every cell's config must hold, before the first runs
            dataclasses.replace(self.base, replicas=replicas, ttl_s=self.ttls_s[0])
        object.__setattr__(self, "variations", tuple(self._checked(k, v) for k, v in
                                                      self.variations))  # fmt: skip

    def _checked(self, key: str, values: tuple[OptionValue, ...]) -> tuple[str, tuple]:
        """A `--vary` axis with its values parsed by the option's declaration."""
        strategy, _, name = key.partition(".")
        if strategy not in self.base.strategies:
            raise ConfigError(f"--vary {key}: {strategy} is not among --strategies")
        if key in self.base.options:
            raise ConfigError(f"--vary {key}: also given as a flag; give one or the other")
        option = STRATEGIES[strategy].option(name)
        try:
            parsed = tuple(option.parse(v) for v in values)
        except ValueError as exc:
            raise ConfigError(f"--vary {key}: {exc}") from None
        if len(set(parsed)) != len(parsed):
            raise ConfigError(f"--vary {key}: a value is listed twice")
        return key, parsed

    def option_sets(self, strategy: str) -> list[tuple[tuple[str, OptionValue], ...]]:
        """Each combination of `strategy`'s varied options ([()] when none varies)."""
        axes = [(k.partition(".")[2], values) for k, values in self.variations
                if k.partition(".")[0] == strategy]  # fmt: skip
        return [tuple(zip([n for n, _ in axes], combo, strict=True))
                for combo in itertools.product(*(values for _, values in axes))]  # fmt: skip

    def cell_config(self, cell: Cell, folder: Path) -> RunConfig:
        """The run config of one cell (validated again by RunConfig)."""
        varied = {f"{cell.strategy}.{name}": value for name, value in cell.options}
        return dataclasses.replace(
            self.base,
            strategies=(cell.strategy,),
            ttl_s=cell.ttl_s,
            replicas=cell.replicas,
            results=RunFolder(folder).cells,
            options=self.base.options | varied,
        )

    def as_json(self) -> dict[str, Any]:
        shared = {k: v for k, v in self.base.as_json().items() if k not in ("ttl_s", "replicas")}
        return shared | {
            "ttls_s": list(self.ttls_s),
            "replicas": list(self.replicas),
            "repeats": self.repeats,
            "variations": {key: list(values) for key, values in self.variations},
            **{limit.option: getattr(self.budget, limit.option, None) for limit in LIMITS},
        }


def expand_matrix(config: SweepConfig) -> list[Cell]:
    """Every cell, in the order they run: repeat-major.

    A whole pass over strategies x TTLs x replicas runs before the next repeat, so a slow
    drift of the machine (heat, a neighbour's load) spreads over every strategy instead of
    biasing the one measured last, and an interrupted sweep holds whole passes.
    """
    return [
        Cell(strategy, ttl_s, replicas, repeat, options)
        for repeat in range(config.repeats)
        for strategy in config.base.strategies
        for options in config.option_sets(strategy)
        for ttl_s in config.ttls_s
        for replicas in config.replicas
    ]
