"""Distribution properties of scenarios.keys that a wrong implementation would break.

Every test draws from a fixed seed, so the statistical bounds are checked once and never
flake; the bounds are loose enough to hold for any seed, tight enough to catch a chooser
that degenerated into another distribution.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from scenarios.keys import (
    CHOOSERS,
    LatestChooser,
    ZipfianRanks,
    make_chooser,
    scrambled_order,
    zeta,
)

DRAWS = 100_000


def draw(name: str, n: int, seed: int, count: int = DRAWS) -> list[int]:
    chooser = make_chooser(name, n, random.Random(seed))
    return [chooser.next_key() for _ in range(count)]


def top_share(keys: list[int], top: int) -> float:
    """Share of draws that went to the `top` most drawn ids."""
    return sum(hits for _, hits in Counter(keys).most_common(top)) / len(keys)


@pytest.mark.parametrize("name", sorted(CHOOSERS))
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_every_key_is_within_range(name: str, n: int) -> None:
    keys = draw(name, n, seed=3, count=20_000)
    assert min(keys) >= 1
    assert max(keys) <= n
    assert all(isinstance(key, int) for key in keys)


@pytest.mark.parametrize("name", sorted(CHOOSERS))
def test_same_seed_same_sequence_other_seed_other_sequence(name: str) -> None:
    assert draw(name, 500, seed=42, count=2000) == draw(name, 500, seed=42, count=2000)
    assert draw(name, 500, seed=42, count=2000) != draw(name, 500, seed=43, count=2000)


@pytest.mark.parametrize("name", sorted(CHOOSERS))
def test_choosers_leave_the_global_random_alone(name: str) -> None:
    random.seed(7)
    expected = random.random()
    random.seed(7)
    draw(name, 100, seed=1, count=1000)
    assert random.random() == expected


def test_zipfian_top_one_percent_draws_far_more_than_one_percent() -> None:
    # theta 0.99 over 1000 ids: the 10 hottest take ~40% of draws (H(10)/zeta(1000)).
    assert top_share(draw("zipfian", 1000, seed=1), top=10) > 0.30


def test_uniform_top_one_percent_draws_about_one_percent() -> None:
    assert top_share(draw("uniform", 1000, seed=1), top=10) < 0.02


def test_zipfian_rank_frequencies_follow_the_power_law() -> None:
    n, theta = 1000, 0.99
    ranks = ZipfianRanks(n, random.Random(5))
    counts = Counter(ranks.next_rank() for _ in range(200_000))
    for rank in (0, 1, 9):
        expected = (rank + 1) ** -theta / zeta(n, theta)
        assert counts[rank] / 200_000 == pytest.approx(expected, rel=0.1)
    # Rank 0 is the most popular and popularity falls with rank.
    assert counts[0] > counts[1] > counts[9] > counts[99]


def test_zipfian_hot_ids_are_scattered_not_the_lowest_ids() -> None:
    keys = draw("zipfian", 1000, seed=1)
    hottest = [key for key, _ in Counter(keys).most_common(10)]
    assert hottest != list(range(1, 11))
    assert max(hottest) - min(hottest) > 500


def test_zipfian_hot_set_is_the_same_for_every_seed() -> None:
    # Users seeded differently must hammer the same ids, or the aggregate load flattens.
    hottest_a = {key for key, _ in Counter(draw("zipfian", 1000, seed=1)).most_common(3)}
    hottest_b = {key for key, _ in Counter(draw("zipfian", 1000, seed=2)).most_common(3)}
    assert hottest_a == hottest_b


def test_scrambled_order_is_a_permutation_so_every_id_can_be_drawn() -> None:
    assert sorted(scrambled_order(1000)) == list(range(1, 1001))


def test_hotspot_sends_eighty_percent_of_draws_to_twenty_percent_of_ids() -> None:
    keys = draw("hotspot", 1000, seed=1)
    hot_share = sum(1 for key in keys if key <= 200) / len(keys)
    assert hot_share == pytest.approx(0.8, abs=0.01)
    assert len(set(keys)) == 1000


def test_latest_favours_the_highest_ids_before_any_write() -> None:
    keys = draw("latest", 1000, seed=1)
    assert Counter(keys).most_common(1)[0][0] == 1000


def test_latest_follows_the_writes() -> None:
    chooser = make_chooser("latest", 1000, random.Random(1))
    chooser.record_write(17)
    chooser.record_write(400)
    chooser.record_write(17)  # 17 again: most recent, 400 second
    counts = Counter(chooser.next_key() for _ in range(DRAWS))
    assert [key for key, _ in counts.most_common(2)] == [17, 400]
    assert counts[17] / DRAWS > 0.10


def test_latest_ranks_cover_every_id_exactly_once_after_writes() -> None:
    chooser = LatestChooser(50, random.Random(1))
    for key in (3, 50, 17, 3, 25, 1):
        chooser.record_write(key)
    order = [chooser.key_at_rank(rank) for rank in range(50)]
    assert order[:5] == [1, 25, 3, 17, 50]
    assert order[5:] == [key for key in range(50, 0, -1) if key not in {1, 3, 17, 25, 50}]


def test_latest_rejects_a_write_outside_the_range() -> None:
    with pytest.raises(ValueError):
        make_chooser("latest", 10, random.Random(1)).record_write(11)


def test_make_chooser_rejects_unknown_names_and_empty_ranges() -> None:
    with pytest.raises(ValueError, match="unknown key distribution"):
        make_chooser("gaussian", 10, random.Random(1))
    for name in CHOOSERS:
        with pytest.raises(ValueError):
            make_chooser(name, 0, random.Random(1))
