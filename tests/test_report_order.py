"""Every table and figure of the run report lists strategies in run order
(`bench.manifest.strategy_order`), never in the order the request files come or the
alphabet's: here `marker` ran before `delete`, and its rows are in the later file."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.analysis.summary import write_analysis
from bench.report.plots import timeline_figure
from bench.report.run import build_report
from tests.raw_runs import write_raw_run

RUN_ORDER = ["marker", "delete"]  # not the alphabet's, nor the files'


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_raw_run(tmp_path_factory.mktemp("results") / "run", RUN_ORDER)
    assert sorted(p.name for p in (folder / "requests").iterdir())[0].startswith("host-1")
    write_analysis(folder)
    build_report(folder)
    return folder


def test_timeline_csv_is_in_run_order(folder: Path) -> None:
    timeline = pd.read_csv(folder / "timeline.csv")
    assert list(dict.fromkeys(timeline["strategy"])) == RUN_ORDER
    assert timeline.groupby("strategy")["second"].apply(list).to_dict() == {
        name: [0, 1, 2, 3, 4] for name in RUN_ORDER
    }


def test_the_timeline_plot_draws_strategies_top_to_bottom_in_run_order(
    folder: Path, tmp_path: Path
) -> None:
    assert (folder / "plots" / "timeline.png").stat().st_size > 0
    # a copy whose table has its rows by name: the figure must not follow them
    copy = Path(shutil.copytree(folder, tmp_path / "run"))
    timeline = pd.read_csv(copy / "timeline.csv")
    timeline.sort_values("strategy", kind="stable").to_csv(copy / "timeline.csv", index=False)
    for run in (folder, copy):
        figure = timeline_figure(run)
        assert figure is not None
        assert [ax.get_ylabel().split("\n")[0] for ax in figure.axes] == RUN_ORDER


def test_every_table_of_the_report_lists_strategies_in_run_order(folder: Path) -> None:
    markdown = (folder / "report.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    firsts = [line.split("|")[1].strip() for line in rows]
    named = [cell for cell in firsts if cell in RUN_ORDER]
    assert named, "the report has tables naming the strategies"
    assert named == RUN_ORDER * (len(named) // len(RUN_ORDER))
