"""Settings of one replica, read from the environment and nothing else.

Built inside the app's lifespan (not at import time) so that tests can make
apps with other settings in the same process.
"""

import os
import socket
from typing import Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from services.strategies import STRATEGIES, STRATEGY_NAMES, OptionValue


class Settings(BaseSettings):
    cache_strategy: str = "delete"
    cache_ttl: float = Field(30.0, gt=0)
    local_ttl: float | None = Field(None, gt=0)
    local_max_items: int = Field(10_000, gt=0)
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "sqlite:///./origin.db"
    # a read replica of the origin, which may lag: reads go there, writes to DATABASE_URL;
    # unset, reads go where writes go
    database_read_url: str | None = None
    origin_delay_ms: float = Field(0.0, ge=0)
    # pubsub: PING the subscriber connection this often; two beats unanswered and the
    # local tier goes off and is emptied, as after a disconnect.
    subscriber_heartbeat_s: float = Field(0.25, gt=0, allow_inf_nan=False)
    # The harness's origin-slow fault: PUT /_faults/origin-delay. Off, the route does not
    # exist, so a replica that is not being faulted has nothing more to serve.
    fault_control: bool = False
    # The strategy's own options, by name, as its registry entry declares them: each read
    # from its environment variable (XFETCH_BETA, ...) unless given here by a test.
    options: dict[str, Any] = Field(default_factory=dict)
    # where this replica writes when it applied each invalidation (white-box times for
    # the probe's brackets); unset, nowhere
    invalidation_log: str | None = None
    replica_name: str = Field(default_factory=socket.gethostname)

    @field_validator("cache_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGY_NAMES:
            raise ValueError(f"must be one of: {', '.join(STRATEGY_NAMES)}")
        return value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _known_origin(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @model_validator(mode="after")
    def _declared_options(self) -> Self:
        """Every option the strategy declares, checked; none it does not declare."""
        spec = STRATEGIES[self.cache_strategy]
        unknown = set(self.options) - {o.name for o in spec.options}
        if unknown:
            raise ValueError(f"{spec.name} has no option {', '.join(sorted(unknown))}")
        values: dict[str, OptionValue] = {}
        for option in spec.options:
            given = self.options.get(option.name, os.environ.get(option.env))
            try:
                values[option.name] = option.parse(given)
            except ValueError as exc:
                raise ValueError(f"{option.env}={given!r}: {exc}") from None
        self.options = values
        return self

    @model_validator(mode="after")
    def _local_ttl_defaults_to_cache_ttl(self) -> Self:
        if self.local_ttl is None:
            self.local_ttl = self.cache_ttl
        return self


class SettingsError(Exception):
    """A setting is wrong; the message is one line naming the variable."""


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's report into one readable line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a check of several settings: its message names the variable
            raise SettingsError(str(first["msg"]).removeprefix("Value error, ")) from None
        variable = str(first["loc"][0]).upper()
        given = first.get("input")
        raise SettingsError(f"{variable}={given!r}: {first['msg']}") from None
