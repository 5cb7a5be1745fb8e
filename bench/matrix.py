"""A sweep's matrix: strategy x TTL x replicas x repeat, as data, expanded in one place.

`SweepConfig` lists the values and what every cell shares; `expand_matrix` turns them
into cells, in the order they run; `SweepConfig.cell_config` makes one cell's ordinary
single-strategy run config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.layout import RunFolder
from bench.run_config import ConfigError, RunConfig

if TYPE_CHECKING:  # the tuner's budget, recorded in run.json; the matrix needs no pandas
    from bench.analysis.tune import Budget


@dataclass(frozen=True)
class Cell:
    """One point of the matrix: a single-strategy run of `duration_s` seconds."""

    strategy: str
    ttl_s: float
    replicas: int
    repeat: int

    @property
    def id(self) -> str:
        """The cell's folder name, e.g. `pubsub-ttl5-n2-r0`; unique within a sweep."""
        return f"{self.strategy}-ttl{self.ttl_s:g}-n{self.replicas}-r{self.repeat}"

    @property
    def label(self) -> str:
        return f"{self.strategy} ttl={self.ttl_s:g} replicas={self.replicas} repeat={self.repeat}"


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

    def cell_config(self, cell: Cell, folder: Path) -> RunConfig:
        """The run config of one cell (validated again by RunConfig)."""
        return dataclasses.replace(
            self.base,
            strategies=(cell.strategy,),
            ttl_s=cell.ttl_s,
            replicas=cell.replicas,
            results=RunFolder(folder).cells,
        )

    def as_json(self) -> dict[str, Any]:
        shared = {k: v for k, v in self.base.as_json().items() if k not in ("ttl_s", "replicas")}
        return shared | {
            "ttls_s": list(self.ttls_s),
            "replicas": list(self.replicas),
            "repeats": self.repeats,
            "max_stale_ms": self.budget.max_stale_ms if self.budget else None,
            "min_hit_ratio": self.budget.min_hit_ratio if self.budget else None,
            "max_origin_rps": self.budget.max_origin_rps if self.budget else None,
        }


def expand_matrix(config: SweepConfig) -> list[Cell]:
    """Every cell, in the order they run: repeat-major.

    A whole pass over strategies x TTLs x replicas runs before the next repeat, so a slow
    drift of the machine (heat, a neighbour's load) spreads over every strategy instead of
    biasing the one measured last, and an interrupted sweep holds whole passes.
    """
    return [
        Cell(strategy, ttl_s, replicas, repeat)
        for repeat in range(config.repeats)
        for strategy in config.base.strategies
        for ttl_s in config.ttls_s
        for replicas in config.replicas
    ]
