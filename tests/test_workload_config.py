"""The BENCH_* settings a scenario reads, checked without importing Locust."""

import pytest

from scenarios.workload_config import WorkloadConfig


def test_defaults_without_any_setting() -> None:
    config = WorkloadConfig.from_env({})
    assert config == WorkloadConfig(targets=(), products=1000, categories=10, seed=0,
                                    user_rate=None)  # fmt: skip


def test_targets_rate_and_catalogue_are_read_and_tidied() -> None:
    config = WorkloadConfig.from_env({
        "BENCH_TARGETS": " http://a:1/, ,http://b:2 ", "BENCH_PRODUCTS": "30",
        "BENCH_CATEGORIES": "4", "BENCH_SEED": "9", "BENCH_USER_RATE": "2.5",
    })  # fmt: skip
    assert config.targets == ("http://a:1", "http://b:2")
    assert (config.products, config.categories, config.seed, config.user_rate) == (30, 4, 9, 2.5)


@pytest.mark.parametrize("text", ["", "max", " MAX "])
def test_max_or_nothing_means_unpaced(text: str) -> None:
    assert WorkloadConfig.from_env({"BENCH_USER_RATE": text}).user_rate is None


@pytest.mark.parametrize(
    ("environ", "error", "says"),
    [
        ({"BENCH_USER_RATE": "0"}, RuntimeError, "BENCH_USER_RATE must be positive"),
        ({"BENCH_USER_RATE": "-1"}, RuntimeError, "BENCH_USER_RATE must be positive"),
        ({"BENCH_USER_RATE": "fast"}, ValueError, "fast"),
        ({"BENCH_PRODUCTS": "0"}, RuntimeError, "at least 1"),
        ({"BENCH_CATEGORIES": "0"}, RuntimeError, "at least 1"),
        ({"BENCH_SEED": "x"}, ValueError, "x"),
        ({"BENCH_ARRIVALS": "poisson", "BENCH_USER_RATE": "5"}, RuntimeError, "BENCH_ARRIVALS"),
        ({"BENCH_ARRIVALS": "open"}, RuntimeError, "needs a BENCH_USER_RATE"),
        ({"BENCH_ARRIVALS": "open", "BENCH_USER_RATE": "max"}, RuntimeError, "BENCH_USER_RATE"),
        ({"BENCH_REQUEST_TIMEOUT_S": "0"}, RuntimeError, "BENCH_REQUEST_TIMEOUT_S"),
        ({"BENCH_REQUEST_TIMEOUT_S": "inf"}, RuntimeError, "BENCH_REQUEST_TIMEOUT_S"),
        ({"BENCH_REQUEST_TIMEOUT_S": "soon"}, ValueError, "soon"),
    ],
)
def test_a_bad_value_fails_loudly(environ: dict[str, str], error: type, says: str) -> None:
    with pytest.raises(error, match=says):
        WorkloadConfig.from_env(environ)


def test_arrivals_are_closed_unless_open_is_asked_for_with_a_rate() -> None:
    assert WorkloadConfig.from_env({}).arrivals == "closed"
    opened = WorkloadConfig.from_env({"BENCH_ARRIVALS": " Open ", "BENCH_USER_RATE": "10"})
    assert (opened.arrivals, opened.user_rate) == ("open", 10.0)


def test_a_request_is_given_up_after_10_s_unless_told() -> None:
    assert WorkloadConfig.from_env({}).request_timeout_s == 10.0
    assert WorkloadConfig.from_env({"BENCH_REQUEST_TIMEOUT_S": " 2.5 "}).request_timeout_s == 2.5


def test_categories_follow_the_seed() -> None:
    config = WorkloadConfig.from_env({"BENCH_CATEGORIES": "3"})
    assert [config.category_of(i) for i in (1, 2, 3, 4, 7)] == ["c0", "c1", "c2", "c0", "c0"]
