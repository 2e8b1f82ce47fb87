"""The statistics charts show the report's figures: each month's outcomes stacked in one bar,
and the letters sent digitally and their saving next to the plan, with room above both."""

import pytest
from matplotlib.patches import Rectangle

from utskick.statistics.charts import month_label, outcomes_chart, plan_chart
from utskick.statistics.report import build_report
from utskick.statistics.repository import LetterScope, Month

pytestmark = pytest.mark.storage

MONTHS = ("2026-01", "2026-02")


@pytest.fixture
def report(seeded, settings):
    return build_report(seeded, LetterScope(Month(2026, 1), Month(2026, 2)), settings)


def bars(figure):
    """Every bar of the figure by its id, as (bottom, height)."""
    return {
        patch.get_gid(): (patch.get_y(), patch.get_height())
        for axes in figure.axes
        for patch in axes.patches
        if isinstance(patch, Rectangle) and patch.get_gid()
    }


@pytest.mark.parametrize(
    ("month", "label"), [("2026-01", "jan 2026"), ("2026-05", "maj 2026"), ("2025-12", "dec 2025")]
)
def test_a_month_is_labelled_in_swedish(month, label):
    assert month_label(month) == label


def test_each_months_outcomes_are_stacked_digital_paper_impossible(report):
    shown = bars(outcomes_chart(report))

    for month in report.months:
        counts = month.figures.counts
        key = month.month
        assert shown[f"digitalt-{key}"] == (0, counts.digital)
        assert shown[f"papper-{key}"] == (counts.digital, counts.paper)
        assert shown[f"omojligt-{key}"] == (
            counts.digital + counts.paper,
            counts.impossible_total,
        )
    assert [month.month for month in report.months] == list(MONTHS)


def test_the_plan_chart_puts_the_actuals_beside_the_plan_with_room_above(report):
    figure = plan_chart(report)
    letters, saving = figure.axes[:2]
    shown = bars(figure)

    for month in report.months:
        assert shown[f"utfall-brev-{month.month}"][1] == month.figures.counts.digital
        assert shown[f"utfall-kr-{month.month}"][1] == float(month.figures.saving)
    [planned_letters] = [line for line in letters.lines if line.get_gid() == "plan-brev"]
    assert list(planned_letters.get_ydata()) == [
        float(month.plan.moved_mailings) for month in report.months
    ]
    highest = max(float(month.plan.saving) for month in report.months)
    assert saving.get_ylim()[1] >= highest * 1.15


def test_without_a_plan_there_is_no_plan_line(seeded, settings):
    unplanned = settings.model_copy(update={"benefit_plan_first_year": 2027})
    report = build_report(seeded, LetterScope(Month(2026, 1), Month(2026, 2)), unplanned)

    figure = plan_chart(report)

    assert [line.get_gid() for axes in figure.axes for line in axes.lines] == []


def test_the_outcomes_axis_starts_at_none_and_has_room_above(seeded, settings, report):
    [axes] = outcomes_chart(report).axes
    tallest = max(
        month.figures.counts.digital
        + month.figures.counts.paper
        + month.figures.counts.impossible_total
        for month in report.months
    )
    bottom, top = axes.get_ylim()
    assert bottom == 0
    assert top >= tallest
    empty = build_report(seeded, LetterScope(Month(2020, 1), Month(2020, 2)), settings)
    [axes] = outcomes_chart(empty).axes
    assert axes.get_ylim() == (0, 1.1)
