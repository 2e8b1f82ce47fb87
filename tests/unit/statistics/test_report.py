"""The statistics on seeded letters: counts by outcome, delivery times, savings, plan and scope.

The seeded letters, in Stockholm months (expected figures worked out by hand below):

January 2026, Socialtjänsten, Exempelkommun, beslut:
  delivered after 60 s (created 00:30 on 1 January in Stockholm, still 31 December in UTC),
  delivered after 120 s, delivered after 600 s, handed to print after 1 day, printed after 2 h,
  impossible (deceased)
January 2026, Byggnadsnämnden, Grannkommun, faktura:
  delivered after 30 s, impossible (no_address), impossible (protected: another reason),
  not reachable, failed, cancelled, retrying
February 2026, Socialtjänsten, Exempelkommun, beslut:
  delivered after 300 s (created 23:30 UTC on 31 January: 1 February in Stockholm),
  paper (waiting for print), batched
Outside the period: delivered at 23:30 on 31 December 2025 in Stockholm.
"""

import re
from decimal import Decimal

import pytest

from functional.browser.statistics_letters import (
    BYGG,
    EXEMPELKOMMUN,
    GRANNKOMMUN,
    SOCIAL,
    add_letter,
    add_reference_data,
    utc,
)
from utskick.settings import Settings
from utskick.statistics import report as statistics
from utskick.statistics.report import (
    BenefitPrices,
    StatisticsFilterError,
    build_report,
    percentile,
    scope_from_filters,
)
from utskick.statistics.repository import LetterScope, Month, StatisticsRepository

JANUARY = "2026-01"
FEBRUARY = "2026-02"
PERIOD = LetterScope(Month(2026, 1), Month(2026, 2))


def month_of(report, month):
    [found] = [figures for figures in report.months if figures.month == month]
    return found


@pytest.mark.storage
class TestCounts:
    def test_every_letter_of_the_period_is_counted_once_by_its_outcome(self, seeded, settings):
        counts = build_report(seeded, PERIOD, settings).total.counts
        assert (counts.digital, counts.paper, counts.impossible_total) == (5, 2, 3)
        assert (counts.not_reachable, counts.failed, counts.cancelled) == (1, 1, 1)
        assert counts.in_progress == 3
        assert counts.total == 16

    def test_impossible_letters_are_counted_by_reason_with_unknown_reasons_as_other(
        self, seeded, settings
    ):
        counts = build_report(seeded, PERIOD, settings).total.counts
        assert counts.impossible == {"deceased": 1, "no_address": 1, "other": 1}

    def test_months_follow_the_stockholm_calendar_not_utc(self, seeded, settings):
        report = build_report(seeded, PERIOD, settings)
        january = month_of(report, JANUARY).figures.counts
        february = month_of(report, FEBRUARY).figures.counts
        assert (january.digital, january.total) == (4, 13)
        assert (february.digital, february.in_progress, february.total) == (1, 2, 3)

    def test_rows_split_by_department_sender_and_message_type(self, seeded, settings):
        report = build_report(seeded, PERIOD, settings)
        keys = {(row.month, row.department, row.sender_name, row.message_type_name): row
                for row in report.rows}  # fmt: skip
        assert set(keys) == {
            (JANUARY, SOCIAL, "Exempelkommun", "Beslut"),
            (JANUARY, BYGG, "Grannkommun", "Faktura"),
            (FEBRUARY, SOCIAL, "Exempelkommun", "Beslut"),
        }
        bygg = keys[(JANUARY, BYGG, "Grannkommun", "Faktura")].figures.counts
        assert (bygg.digital, bygg.impossible_total, bygg.in_progress, bygg.total) == (1, 2, 1, 7)

    def test_a_month_without_letters_is_shown_with_zeros(self, seeded, settings):
        report = build_report(seeded, LetterScope(Month(2026, 2), Month(2026, 3)), settings)
        assert [month.month for month in report.months] == [FEBRUARY, "2026-03"]
        assert month_of(report, "2026-03").figures.counts.total == 0


@pytest.mark.storage
class TestDeliveryTimes:
    def test_digital_median_and_90th_percentile_over_the_period(self, seeded, settings):
        # 30, 60, 120, 300, 600 s: median 120; 90 %: position 3.6 → 300 + 0.6 × 300 = 480
        times = build_report(seeded, PERIOD, settings).total.digital_times
        assert times.letters == 5
        assert times.median_seconds == pytest.approx(120)
        assert times.p90_seconds == pytest.approx(480)

    def test_digital_times_of_one_month(self, seeded, settings):
        # 30, 60, 120, 600 s: median 60 + 0.5 × 60 = 90; 90 %: 120 + 0.7 × 480 = 456
        times = month_of(build_report(seeded, PERIOD, settings), JANUARY).figures.digital_times
        assert times.median_seconds == pytest.approx(90)
        assert times.p90_seconds == pytest.approx(456)

    def test_paper_times_run_to_handed_to_print_or_printed(self, seeded, settings):
        # 7,200 and 86,400 s: median 46,800; 90 %: 7,200 + 0.9 × 79,200 = 78,480
        times = build_report(seeded, PERIOD, settings).total.paper_times
        assert times.letters == 2
        assert times.median_seconds == pytest.approx(46_800)
        assert times.p90_seconds == pytest.approx(78_480)

    def test_no_delivered_letters_means_no_times(self, seeded, settings):
        scope = LetterScope(Month(2026, 2), Month(2026, 2), department=BYGG)
        times = build_report(seeded, scope, settings).total
        assert times.digital_times.median_seconds is None
        assert times.paper_times.p90_seconds is None


@pytest.mark.storage
class TestBenefitRealised:
    def test_saving_is_digital_letters_times_paper_cost_less_digital_cost(self, seeded, settings):
        # 5 × (7.00 − 1.50) = 27.50 kr
        assert build_report(seeded, PERIOD, settings).total.saving == Decimal("27.50")

    def test_working_time_saved_is_valued_at_the_hourly_cost(self, seeded, settings):
        # 5 × 10 min = 50 min = 0.8333 h; × 350 kr = 291.67 kr
        total = build_report(seeded, PERIOD, settings).total
        assert round(total.hours_saved, 4) == Decimal("0.8333")
        assert round(total.time_value, 2) == Decimal("291.67")

    def test_prices_come_from_the_settings(self, seeded, tmp_path):
        settings = Settings(
            home=tmp_path,
            benefit_paper_cost_kr=Decimal("12.00"),
            benefit_digital_cost_kr=Decimal("2.00"),
            benefit_minutes_per_letter=Decimal(6),
            benefit_hourly_cost_kr=Decimal(500),
        )
        total = build_report(seeded, PERIOD, settings).total
        assert total.saving == Decimal("50.00")  # 5 × 10
        assert total.time_value == Decimal(250)  # 5 × 6 / 60 × 500


@pytest.mark.storage
class TestPlan:
    def test_the_plan_is_a_twelfth_of_the_model_years_moved_mailings(self, seeded, settings):
        # Example municipality, year 1: 100,000 eligible × 2/50 × 25 % = 1,000 a year
        plan = month_of(build_report(seeded, PERIOD, settings), JANUARY).plan
        assert plan.model_year == 1
        assert round(plan.moved_mailings, 2) == Decimal("83.33")
        assert round(plan.saving, 2) == Decimal("458.33")  # 83.33 × 5.50

    def test_a_later_calendar_year_reads_a_later_model_year(self, seeded, tmp_path):
        # Year 2: 10.25 processes of 50 × 40 % usage = 8.2 % → 8,200 a year
        settings = Settings(home=tmp_path, benefit_plan_first_year=2025)
        plan = month_of(build_report(seeded, PERIOD, settings), JANUARY).plan
        assert plan.model_year == 2
        assert round(plan.moved_mailings, 2) == Decimal("683.33")

    def test_the_plan_starts_by_default_in_the_year_of_the_first_letter(self, seeded, tmp_path):
        report = build_report(seeded, PERIOD, Settings(home=tmp_path))
        assert report.plan_first_year == 2025  # the letter of 31 December 2025
        assert month_of(report, JANUARY).plan.model_year == 2

    def test_months_before_the_plan_have_none(self, seeded, tmp_path):
        settings = Settings(home=tmp_path, benefit_plan_first_year=2027)
        assert month_of(build_report(seeded, PERIOD, settings), JANUARY).plan is None

    def test_the_municipalitys_own_inputs_change_the_plan(self, seeded, tmp_path):
        settings = Settings(
            home=tmp_path, benefit_plan_first_year=2026, benefit_plan_inputs=["inhabitants=50000"]
        )
        plan = month_of(build_report(seeded, PERIOD, settings), JANUARY).plan
        assert round(plan.moved_mailings, 2) == Decimal("41.67")

    def test_a_bad_plan_input_is_reported_and_the_actuals_are_still_shown(self, seeded, tmp_path):
        settings = Settings(home=tmp_path, benefit_plan_inputs=["invånare=5"])
        report = build_report(seeded, PERIOD, settings)
        assert "okänd indata 'invånare'" in report.plan_error
        assert report.total.counts.digital == 5


@pytest.mark.storage
class TestScope:
    def test_one_department_sees_only_its_letters(self, seeded, settings):
        scope = LetterScope(Month(2026, 1), Month(2026, 2), department=SOCIAL)
        report = build_report(seeded, scope, settings)
        assert {row.department for row in report.rows} == {SOCIAL}
        assert (report.total.counts.digital, report.total.counts.total) == (4, 9)
        assert report.total.saving == Decimal("22.00")

    def test_a_department_of_one_organisation_leaves_out_anothers_of_the_same_name(
        self, seeded, settings
    ):
        system = add_reference_data(seeded)
        add_letter(seeded, system, created_at=utc(2026, 1, 15), state="delivered",
                   department=SOCIAL, sender=GRANNKOMMUN)  # fmt: skip
        seeded.flush()
        ours = LetterScope(Month(2026, 1), Month(2026, 2), SOCIAL, EXEMPELKOMMUN)
        theirs = LetterScope(Month(2026, 1), Month(2026, 2), SOCIAL, GRANNKOMMUN)
        counts = build_report(seeded, ours, settings).total.counts
        assert (counts.digital, counts.total) == (4, 9)
        assert build_report(seeded, theirs, settings).total.counts.total == 1

    def test_the_departments_offered_are_those_of_the_organisation(self, seeded):
        repository = StatisticsRepository(seeded)
        assert repository.departments(sender_number=EXEMPELKOMMUN) == [SOCIAL]
        assert repository.departments(sender_number=GRANNKOMMUN) == [BYGG]
        assert repository.departments() == sorted([BYGG, SOCIAL])

    def test_sender_and_message_type_filters(self, seeded, settings):
        by_sender = LetterScope(Month(2026, 1), Month(2026, 2), sender_number=GRANNKOMMUN)
        by_type = LetterScope(Month(2026, 1), Month(2026, 2), message_type="beslut")
        assert build_report(seeded, by_sender, settings).total.counts.total == 7
        assert build_report(seeded, by_type, settings).total.counts.total == 9


@pytest.mark.storage
class TestExport:
    def test_csv_has_one_line_per_row_with_swedish_headers_and_decimal_commas(
        self, seeded, settings
    ):
        text = statistics.to_csv(build_report(seeded, PERIOD, settings))
        assert text.startswith("\ufeffmånad;förvaltning;avsändare;organisationsnummer")
        lines = text.lstrip("\ufeff").splitlines()
        assert len(lines) == 4
        [bygg] = [line for line in lines if BYGG in line]
        fields = bygg.split(";")
        assert fields[:9] == [
            JANUARY,
            BYGG,
            "Grannkommun",
            GRANNKOMMUN,
            "Faktura",
            "7",
            "1",
            "0",
            "2",
        ]
        assert fields[-3:] == ["5,50", "0,17", "58,33"]

    def test_json_has_filters_total_months_with_plan_and_rows(self, seeded, settings):
        data = statistics.to_json(build_report(seeded, PERIOD, settings))
        assert data["filters"]["from"] == JANUARY
        assert data["total"]["digital"] == 5
        assert data["total"]["saving_kr"] == 27.5
        assert data["total"]["delivery_seconds"]["digital"] == {"median": 120.0, "p90": 480.0}
        assert data["months"][0]["plan"]["moved_mailings"] == 83.33
        assert len(data["rows"]) == 3


class TestPercentile:
    def test_median_of_an_even_count_lies_between_the_middle_two(self):
        assert percentile([1, 2, 3, 10], 0.5) == 2.5

    def test_90th_percentile_is_interpolated(self):
        assert percentile([1, 2, 3, 10], 0.9) == pytest.approx(7.9)

    def test_one_value_is_every_percentile(self):
        assert percentile([42], 0.9) == 42

    def test_no_values_give_none(self):
        assert percentile([], 0.5) is None


class TestFilters:
    def test_the_default_period_is_the_twelve_months_up_to_this_one(self):
        scope = scope_from_filters(
            first_month="", last_month="", department="", sender="", message_type="",
            today=Month(2026, 11),
        )  # fmt: skip
        assert (scope.first_month, scope.last_month) == (Month(2025, 12), Month(2026, 11))

    def test_a_sender_may_be_written_with_a_hyphen(self):
        scope = scope_from_filters(
            first_month="2026-01", last_month="2026-02", department="", sender="202100-4748",
            message_type="", today=Month(2026, 11),
        )  # fmt: skip
        assert scope.sender_number == EXEMPELKOMMUN

    @pytest.mark.parametrize(
        ("first", "last", "message"),
        [
            ("2026-13", "", "en månad skrivs ÅÅÅÅ-MM"),
            ("januari", "", "en månad skrivs ÅÅÅÅ-MM"),
            ("2026-05", "2026-02", "perioden börjar (2026-05) efter att den slutar (2026-02)"),
            ("2000-01", "2026-02", "perioden får vara högst 120 månader"),
        ],
    )
    def test_a_bad_period_is_refused_with_what_to_write(self, first, last, message):
        with pytest.raises(StatisticsFilterError, match=re.escape(message)):
            scope_from_filters(
                first_month=first, last_month=last, department="", sender="", message_type="",
                today=Month(2026, 11),
            )  # fmt: skip

    def test_a_bad_sender_is_refused(self):
        with pytest.raises(StatisticsFilterError, match="avsändaren"):
            scope_from_filters(
                first_month="", last_month="", department="", sender="123", message_type="",
                today=Month(2026, 11),
            )  # fmt: skip


class TestMonth:
    def test_a_month_starts_at_midnight_in_stockholm(self):
        assert Month(2026, 1).start() == utc(2025, 12, 31, 23, 0)
        assert Month(2026, 7).start() == utc(2026, 6, 30, 22, 0)  # summer time

    def test_december_is_followed_by_january(self):
        assert Month(2025, 12).next() == Month(2026, 1)
        assert Month(2026, 1).minus(1) == Month(2025, 12)


class TestPrices:
    def test_no_digital_letters_save_nothing(self):
        prices = BenefitPrices(Decimal(7), Decimal("1.5"), Decimal(10), Decimal(350))
        assert prices.saving(0) == 0
        assert prices.time_value(0) == 0
