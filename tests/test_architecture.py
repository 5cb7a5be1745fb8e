"""The structure docs/design.md's layout promises: data flows one way, one list of strategy
names, one run-folder layout, and no module reaches for what it must not load."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.layout import RunFolder
from bench.manifest import SCHEMA_VERSION, read_manifest
from scenarios.request_rows import REQUESTS_FOLDER
from services.config import Settings
from services.strategies import STRATEGIES, STRATEGY_NAMES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "services", "scenarios")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in it, lazily or not)."""
    files = {module_name(p): p for top in PACKAGES for p in (ROOT / top).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                wanted = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in wanted:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                # a package's __init__ may name its own modules (a registry, a factory)
                own = path.name == "__init__.py" and target.startswith(f"{name}.")
                if target and target != name and not own:
                    targets.add(target)
        graph[name] = targets
    return graph


GRAPH = import_graph()


def imports_of(prefix: str) -> set[tuple[str, str]]:
    return {(m, t) for m, ts in GRAPH.items() if m.startswith(prefix) for t in ts}


def test_no_import_circle() -> None:
    def reaches(start: str, goal: str) -> bool:
        todo, seen = [start], {start}
        while todo:
            for nxt in GRAPH[todo.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    assert [(a, b) for a, ts in GRAPH.items() for b in ts if reaches(b, a)] == []


# Above any layer: the CLI, then the experiment and the sweep that drive a runtime.
TOP = ("bench.cli", "bench.experiment", "bench.sweep")


@pytest.mark.parametrize(
    ("prefix", "forbidden"),
    [
        ("bench.analysis", ("bench.runtime", "bench.report", "bench.probe.poller", *TOP)),
        ("bench.report", ("bench.runtime", *TOP)),
        ("bench.runtime", ("bench.analysis", "bench.report", *TOP)),
        ("bench.faults", ("bench.runtime", "bench.analysis", "bench.report", *TOP)),
        ("bench.contract", ("bench.runtime", "bench.analysis", "bench.report", *TOP)),
        ("bench.probe", ("bench.runtime", "bench.analysis", "bench.report", *TOP)),
        # the foundations every part reads: the config, the folder layout, run.json
        ("bench.run_config", ("bench.runtime", "bench.analysis", "bench.report", *TOP)),
        ("bench.layout", ("bench.runtime", "bench.analysis", "bench.report", *TOP)),
        ("bench.manifest", ("bench.runtime", "bench.analysis", "bench.report", *TOP)),
        ("services", ("bench", "scenarios")),
        ("scenarios", ("bench", "services")),
    ],
)  # fmt: skip
def test_data_flows_one_way(prefix: str, forbidden: tuple[str, ...]) -> None:
    crossing = {(m, t) for m, t in imports_of(prefix)
                if any(t == f or t.startswith(f"{f}.") for f in forbidden)}  # fmt: skip
    assert crossing == set()


def loaded_by(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)  # fmt: skip
    return set(json.loads(done.stdout))


def test_the_registry_and_verify_load_no_cache_or_database_client() -> None:
    modules = loaded_by("import services.config, bench.runtime.verify, bench.run_config")
    assert not modules & {"redis", "aiosqlite", "asyncpg", "services.strategies.base"}
    assert not {m for m in modules if m in {"locust", "gevent"}}


def test_one_list_of_strategy_names() -> None:
    for name in STRATEGY_NAMES:
        assert Settings(cache_strategy=name).cache_strategy == name
    with pytest.raises(ValueError, match="must be one of: " + ", ".join(STRATEGY_NAMES)):
        Settings(cache_strategy="lru")


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_registered_strategy_loads_the_class_of_its_name(name: str) -> None:
    cls = STRATEGIES[name].load()
    assert cls.name == name
    for method in ("start", "stop", "get_product", "update_product", "list_category", "health"):
        assert callable(getattr(cls, method))


def test_the_recorder_writes_where_analysis_reads() -> None:
    assert RunFolder(Path("run")).requests == Path("run") / REQUESTS_FOLDER


def test_a_manifest_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    RunFolder(tmp_path).manifest.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(ValueError, match=f"schema_version {SCHEMA_VERSION + 1}; this version"):
        read_manifest(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bench", "report", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
