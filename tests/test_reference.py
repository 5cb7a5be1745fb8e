"""The checker's sorted codes (`bench.analysis.reference.Sorted`) at their edges: values
far apart, and a k above every stored one, which must find nothing, not wrap around."""

import numpy as np

from bench.analysis.reference import Sorted


def test_a_k_above_every_stored_one_finds_nothing_however_wide_the_values() -> None:
    table = Sorted.of(np.array([1, 1]), np.array([1, 2**59]))
    assert table.ranks is None, "offsets: 2 * 2**59 fits below 2**62"
    k, value = np.array([16, 1, 1]), np.array([5, 5, 2**59])  # 16 * 2**59: 2**63
    assert table.after(k, value).tolist() == [2, 1, 2]
    assert table.of_k(table.after(k, value) - 1, k).tolist() == [False, True, True]


def test_values_too_far_apart_for_offsets_are_searched_by_rank() -> None:
    table = Sorted.of(np.array([1, 1, 2]), np.array([-(2**62), 7, 2**62]))
    assert table.ranks is not None
    k, value = np.array([1, 1, 2, 2, 3]), np.array([0, 7, 2**62 - 1, 2**63 - 1, 0])
    after = table.after(k, value)
    assert after.tolist() == [1, 2, 2, 3, 3]
    assert table.of_k(after - 1, k).tolist() == [True, True, False, True, False]
