"""The registry of strategies: an explicit list, never discovered by globbing."""

from services.strategies.base import Deps, Served, Strategy
from services.strategies.delete import DeleteStrategy
from services.strategies.pubsub import PubSubStrategy
from services.strategies.ttl import TtlStrategy
from services.strategies.versioned import VersionedStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "ttl": TtlStrategy,
    "delete": DeleteStrategy,
    "versioned": VersionedStrategy,
    "pubsub": PubSubStrategy,
}

__all__ = ["STRATEGIES", "Deps", "Served", "Strategy"]
