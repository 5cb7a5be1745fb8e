"""The contract a service must meet to be measured (docs/contract.md), checked live.

The suite measures staleness from versions alone, so it needs a service to keep a few
promises: products 1..N in categories `c{(i-1) % C}`, a `version` that a write raises by
exactly one, lists that embed their products' versions, probe-only ids that no load
touches, and plain refusals (404, 422) of what it cannot serve. `check_contract` sees
whether a running service keeps them, before anyone measures it: `bench contract` alone,
and `bench run --runtime external` first.

Freshness is a finding, not a rule. The check's write is the first the suite sends, so
it is made the guide's experiment: every target reads the product first (each cache then
holds the old value), the write goes through the first target, the next read there must
show it ("a write is visible on the next read"), then every target is read until it
serves the write or `FRESH_WITHIN_S` pass. A service that fails is still measured, and
its report says so first; a bug that bites once (the first invalidation after a fresh
deployment lost) shows only here, which is why no write of the suite may come earlier.
"""

from bench.contract.findings import Catalogue, Check, Findings, parse_id_range
from bench.contract.rules import FRESH_WITHIN_S, check_contract
from services.openapi import CONTRACT_VERSION

__all__ = ["CONTRACT_VERSION", "FRESH_WITHIN_S", "Catalogue", "Check", "Findings",
           "check_contract", "parse_id_range"]  # fmt: skip
