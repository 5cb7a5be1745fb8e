"""The report's notes on library strategies, on literal rows: the library and its version
from run.json, the card's verdict, and the compared figure where it differs most from
ours closest when that one ran beside it."""

from pathlib import Path

from bench.report.libraries import VERDICTS, library_notes
from services.strategies import LIBRARY_STRATEGIES

MANIFEST = {"packages": {"cashews": "7.6.0", "fastapi-cache2": "0.2.2"}}
DELETE = {
    "strategy": "delete",
    "hit_ratio": 0.794,
    "stale_read_ratio": 0.0,
    "read_p99_ms": 8.3,
    "origin_rps_mean": 85.0,
    "errors": 0,
}
CLEAR = {"strategy": "fastapi-cache2-clear", "hit_ratio": 0.154, "stale_read_ratio": 0.0,
         "read_p99_ms": 19.9, "origin_rps_mean": 270.0, "errors": 0}  # fmt: skip


def test_every_library_strategy_has_a_verdict_from_its_card() -> None:
    assert set(VERDICTS) == set(LIBRARY_STRATEGIES)


def test_a_library_strategy_is_named_with_its_version_and_its_widest_gap_from_ours() -> None:
    [note] = library_notes(MANIFEST, [DELETE, CLEAR])
    assert note.startswith("fastapi-cache2-clear is fastapi-cache2 0.2.2's caching: ")
    assert VERDICTS["fastapi-cache2-clear"] in note
    # hit ratio 15% against 79% is the widest gap (81% of the larger), before origin load
    assert note.endswith("Its widest gap from delete, ours closest: hit ratio 15.4% against"
                         " 79.4%.")  # fmt: skip


def test_without_ours_closest_the_note_says_what_to_run_beside_it() -> None:
    [note] = library_notes({"packages": {}}, [{**CLEAR, "strategy": "cashews"}])
    assert note.startswith("cashews is cashews (version not recorded)'s caching: ")
    assert note.endswith("Run it beside delete, ours that does the same job, to compare.")


def test_our_own_strategies_get_no_note() -> None:
    assert library_notes(MANIFEST, [DELETE]) == []


def test_each_verdict_is_its_card_s_word_for_word() -> None:
    """The report's verdict and the card's are one text: a card updated after an upgrade
    must take the report's note with it."""
    cards = (Path(__file__).parent.parent / "docs" / "libraries.md").read_text()
    for name, verdict in VERDICTS.items():
        assert f"**Verdict:** {verdict}" in cards, name
