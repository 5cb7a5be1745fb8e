"""A strategy option is declared once and reaches everything from that declaration: the
replica's settings, `bench run` and `bench sweep` (as a flag and as a matrix axis),
run.json and the report's opening lines."""

import subprocess
import sys

import pytest

from bench.matrix import SweepConfig, expand_matrix
from bench.report.setup import options_line
from bench.run_config import ConfigError, RunConfig
from services.config import SettingsError, load_settings
from services.strategies import STRATEGIES

DECLARED = [(spec.name, option) for spec in STRATEGIES.values() for option in spec.options]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_every_declared_option_is_a_flag_of_run_and_sweep(command: str) -> None:
    shown = bench(command, "--help").stdout
    for strategy, option in DECLARED:
        assert option.flag(strategy) in shown
    for kept in ("--xfetch-beta", "--xfetch-lock", "--swr-window"):  # names users know
        assert kept in shown


def test_a_replica_reads_its_strategy_s_options_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XFETCH_BETA", "2.5")
    monkeypatch.setenv("XFETCH_LOCK", "1")
    monkeypatch.setenv("SWR_WINDOW", "")  # compose's way of leaving it unset
    assert load_settings(cache_strategy="xfetch").options == {"beta": 2.5, "lock": True}
    assert load_settings(cache_strategy="swr").options == {"window": None}
    assert load_settings(cache_strategy="delete").options == {}


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [("XFETCH_BETA", "0", "XFETCH_BETA='0': must be greater than 0"),
     ("XFETCH_BETA", "nan", "must be a finite number"),
     ("XFETCH_LOCK", "maybe", "XFETCH_LOCK='maybe': must be 1 or 0")],
)  # fmt: skip
def test_a_bad_option_value_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=says):
        load_settings(cache_strategy="xfetch")


@pytest.mark.parametrize(
    ("args", "says"),
    [(["--xfetch-beta", "-1"], "--xfetch-beta must be greater than 0"),
     (["--swr-window", "soon"], "--swr-window must be a number, got 'soon'")],
)  # fmt: skip
def test_bench_run_refuses_a_bad_option_in_one_line(args: list[str], says: str) -> None:
    done = bench("run", "--strategies", "xfetch,swr", "--duration", "1", *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert says in done.stderr


def test_a_sweep_varies_an_option_as_an_axis_of_its_matrix() -> None:
    base = RunConfig(strategies=("delete", "xfetch"), options={"xfetch.lock": True})
    config = SweepConfig(base, (5.0,), (2,), variations=(("xfetch.beta", ("1", "2", "4")),))
    cells = expand_matrix(config)
    assert [c.id for c in cells] == [
        "delete-ttl5-n2-r0",
        "xfetch-beta1-ttl5-n2-r0",
        "xfetch-beta2-ttl5-n2-r0",
        "xfetch-beta4-ttl5-n2-r0",
    ]
    assert cells[2].variant == "xfetch beta=2"
    run = config.cell_config(cells[2], base.results)
    assert run.option_values("xfetch") == {"beta": 2.0, "lock": True}
    assert run.option_env("xfetch") == {"XFETCH_BETA": "2.0", "XFETCH_LOCK": "1"}
    assert config.as_json()["variations"] == {"xfetch.beta": [1.0, 2.0, 4.0]}


@pytest.mark.parametrize(
    ("strategies", "vary", "says"),
    [(("delete",), ("xfetch.beta", ("2",)), "xfetch is not among --strategies"),
     (("xfetch",), ("xfetch.beta", ("0",)), "must be greater than 0"),
     (("xfetch",), ("xfetch.beta", ("2", "2.0")), "a value is listed twice")],
)  # fmt: skip
def test_a_bad_variation_is_refused(strategies: tuple, vary: tuple, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        SweepConfig(RunConfig(strategies=strategies), (5.0,), (2,), variations=(vary,))


def test_bench_sweep_refuses_an_undeclared_option_in_one_line() -> None:
    done = bench("sweep", "--strategies", "xfetch", "--vary", "xfetch.gamma=1,2")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "'xfetch.gamma' is no declared option" in done.stderr


def test_run_json_and_the_report_state_the_options_as_run() -> None:
    config = RunConfig(strategies=("delete", "xfetch", "swr"), options={"xfetch.beta": "2"})
    recorded = config.as_json()["options"]
    assert recorded == {"xfetch": {"beta": 2.0, "lock": False}, "swr": {"window": None}}
    assert options_line({"options": recorded}) == "xfetch beta=2, lock=false; swr window=the TTL"


def test_an_external_run_takes_no_strategy_option() -> None:
    with pytest.raises(ConfigError, match="options are for the suite's own strategies"):
        RunConfig(runtime="external", strategies=("shop",), targets=("http://127.0.0.1:1",),
                  replicas=1, probe_ids=(1001, 1002), options={"xfetch.beta": 2.0})  # fmt: skip
