"""A replica that cannot work stops at once with one clear line, not a boot loop."""

import subprocess
import sys
from pathlib import Path

from bench.runtime.seed import seed
from tests.conftest import PLAN


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services", "--bind", "127.0.0.1:0"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_unknown_strategy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    seed(url, PLAN)
    result = serve({"CACHE_STRATEGY": "lru", "DATABASE_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "CACHE_STRATEGY='lru'" in lines[0]
    for name in ("ttl", "delete", "versioned", "pubsub"):
        assert name in lines[0]


def test_unreachable_origin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'o.db'}"
    result = serve({"DATABASE_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]


def test_unseeded_origin(tmp_path: Path) -> None:
    result = serve({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert result.returncode == 2
    assert "seed it first" in result.stderr


def test_postgres_down(tmp_path: Path) -> None:
    result = serve({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"})
    assert result.returncode == 2
    assert "DATABASE_URL=postgresql://" in result.stderr
