"""The benefit model's formulas on cases small enough to compute by hand."""

from decimal import Decimal

import pytest

from utskick.benefit.model import (
    INPUT_NAMES,
    BenefitInputs,
    InvalidInputsError,
    RampAdjustment,
    View,
    compute,
    eligible_mailings,
    format_kr,
    format_share,
    format_years,
    inputs_with,
    linear_ramp,
    parse_assignments,
    payback_years,
    rounded,
    to_json,
)

D = Decimal


def column(view_result, name):
    return [getattr(row, name) for row in view_result.years]


class TestExampleMunicipality:
    def test_defaults_are_the_pre_study_values(self):
        inputs = BenefitInputs()
        assert (inputs.inhabitants, inputs.mailings_per_inhabitant) == (100_000, 5)
        assert (inputs.processes_connected_first, inputs.processes_connected_last) == (2, 35)
        assert (inputs.usage_first, inputs.usage_last) == (D("0.25"), D("0.85"))
        assert (inputs.investment, inputs.running_cost) == (307_715, 30_507)
        assert (inputs.hourly_cost, inputs.security_value) == (350, 60)

    def test_one_hundred_thousand_mailings_can_move(self):
        # 100,000 × 5 × 10 % × (1 + 1)
        assert eligible_mailings(BenefitInputs()) == 100_000

    def test_moved_mailings_follow_both_ramps(self):
        # processes 2, 10.25, 18.5, 26.75, 35 of 50 × usage 25, 40, 55, 70, 85 %
        # = 1 %, 8.2 %, 20.35 %, 37.45 %, 59.5 % of 100,000
        view = compute(BenefitInputs()).views[View.MAILING_COST]
        assert column(view, "moved_mailings") == [1000, 8200, 20350, 37450, 59500]

    def test_mailing_cost_view_pays_back_in_the_fifth_year(self):
        # A = moved × 7: 7,000 57,400 142,450 262,150 416,500 (885,500)
        # costs = 307,715 in year 1 + 30,507 + moved × 1.50:
        #   339,722 42,807 61,032 86,682 119,757 (650,000)
        # accumulated net: -332,722 -318,129 -236,711 -61,243 235,500
        # payback: 4 + 61,243 / 296,743
        totals = compute(BenefitInputs()).views[View.MAILING_COST].totals
        assert (totals.benefit, totals.cost, totals.net) == (885_500, 650_000, 235_500)
        assert totals.payback_years_nominal == 4 + D(61_243) / D(296_743)

    def test_mailing_cost_view_npv_is_one_hundred_thousand(self):
        # nets / 1.08^y: -308,075.93 + 12,511.15 + 64,632.23 + 128,974.22 + 201,958.30
        # accumulated discounted: … -101,958.33 in year 4, then 99,999.97
        # discounted payback: 4 + 101,958.33 / 201,958.30 = 4.5048…
        totals = compute(BenefitInputs()).views[View.MAILING_COST].totals
        assert rounded(totals.npv) == D("99999.97")
        assert rounded(totals.payback_years_discounted, D("0.0001")) == D("4.5048")


class TestRamp:
    def test_rises_linearly_from_first_to_last(self):
        assert [linear_ramp(D(2), D(35), year, 5) for year in range(1, 6)] == [
            D(2),
            D("10.25"),
            D("18.5"),
            D("26.75"),
            D(35),
        ]

    def test_a_single_year_takes_the_first_value(self):
        assert linear_ramp(D(2), D(35), 1, 1) == 2

    def test_can_fall(self):
        # 1 + (0 - 1) × 1/2
        assert linear_ramp(D(1), D(0), 2, 3) == D("0.5")


class TestYearRows:
    def test_digital_share_weighs_processes_with_usage(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        # 2/10 × 0.5 and 10/10 × 1
        assert column(view, "digital_share") == [D("0.1"), D(1)]
        assert column(view, "moved_mailings") == [100, 1000]

    def test_moved_decisions_exclude_the_preceding_mailings(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        # each decision comes with one mailing before it: 100 / 2, 1,000 / 2
        assert column(view, "moved_decisions") == [50, 500]

    def test_mailing_cost_saving_is_moved_times_paper_cost(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        # 100 × 7, 1000 × 7
        assert column(view, "mailing_cost_saving") == [700, 7000]

    def test_process_improvement_is_minutes_at_the_hourly_cost(self, small_town):
        view = compute(small_town()).views[View.WITH_PROCESS_IMPROVEMENT]
        # 6 min / 60 × 300 kr = 30 kr a mailing: 100 × 30, 1000 × 30
        assert column(view, "process_improvement") == [3000, 30_000]
        assert column(view, "benefit") == [3700, 37_000]

    def test_security_is_valued_per_decision(self, small_town):
        view = compute(small_town()).views[View.WITH_SECURITY]
        # 50 × 50 kr, 500 × 50 kr
        assert column(view, "security_value") == [2500, 25_000]
        assert column(view, "benefit") == [3200, 32_000]

    def test_mailing_cost_view_counts_neither_b_nor_c(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        assert column(view, "process_improvement") == [0, 0]
        assert column(view, "security_value") == [0, 0]
        assert column(view, "benefit") == [700, 7000]

    def test_costs_are_investment_in_year_one_running_and_digital(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        assert column(view, "investment") == [10_000, 0]
        # 100 × 2 kr, 1000 × 2 kr
        assert column(view, "digital_cost") == [200, 2000]
        # 10,000 + 1,000 + 200; 1,000 + 2,000
        assert column(view, "cost") == [11_200, 3000]

    def test_net_and_accumulated_net(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        # 700 - 11,200; 7,000 - 3,000
        assert column(view, "net") == [-10_500, 4000]
        assert column(view, "accumulated_net") == [-10_500, -6500]

    def test_net_is_discounted_by_the_year(self, small_town):
        view = compute(small_town()).views[View.MAILING_COST]
        # -10,500 / 1.25; 4,000 / 1.25²
        assert column(view, "discounted_net") == [-8400, 2560]
        assert column(view, "accumulated_discounted_net") == [-8400, -5840]


class TestTotals:
    def test_sum_benefit_cost_and_net(self, small_town):
        totals = compute(small_town()).views[View.MAILING_COST].totals
        # 700 + 7,000; 11,200 + 3,000; 7,700 - 14,200
        assert (totals.benefit, totals.cost, totals.net) == (7700, 14_200, -6500)

    def test_npv_is_the_sum_of_discounted_nets(self, small_town):
        result = compute(small_town())
        # A: -8,400 + 2,560
        assert result.views[View.MAILING_COST].totals.npv == -5840
        # A + B: -7,500 / 1.25 + 34,000 / 1.5625 = -6,000 + 21,760
        assert result.views[View.WITH_PROCESS_IMPROVEMENT].totals.npv == 15_760
        # A + C: -8,000 / 1.25 + 29,000 / 1.5625 = -6,400 + 18,560
        assert result.views[View.WITH_SECURITY].totals.npv == 12_160

    def test_payback_is_none_when_never_paid_back(self, small_town):
        totals = compute(small_town()).views[View.MAILING_COST].totals
        assert totals.payback_years_nominal is None
        assert totals.payback_years_discounted is None

    def test_payback_is_interpolated_on_the_nominal_net(self, small_town):
        totals = compute(small_town()).views[View.WITH_PROCESS_IMPROVEMENT].totals
        # nets -7,500 and 34,000: 1 + 7,500 / 34,000
        assert totals.payback_years_nominal == 1 + D(7500) / D(34_000)

    def test_discounted_payback_comes_later(self, small_town):
        totals = compute(small_town()).views[View.WITH_PROCESS_IMPROVEMENT].totals
        # discounted nets -6,000 and 21,760: 1 + 6,000 / 21,760
        assert totals.payback_years_discounted == 1 + D(6000) / D(21_760)
        assert totals.payback_years_discounted > totals.payback_years_nominal

    def test_security_view_payback(self, small_town):
        totals = compute(small_town()).views[View.WITH_SECURITY].totals
        # 1 + 8,000 / 29,000 and 1 + 6,400 / 18,560
        assert totals.payback_years_nominal == 1 + D(8000) / D(29_000)
        assert totals.payback_years_discounted == 1 + D(6400) / D(18_560)

    def test_one_year_period(self, small_town):
        totals = compute(small_town(years=1)).views[View.MAILING_COST].totals
        # year 1 only: 700 - 11,200, discounted by 1.25
        assert totals.net == -10_500
        assert totals.npv == -8400


class TestPayback:
    def test_midway_through_the_year_the_sum_turns(self):
        # accumulated -100, -50, 50: 2 + 50 / 100
        assert payback_years([D(-100), D(50), D(100)]) == D("2.5")

    def test_reaching_exactly_zero_at_a_year_end(self):
        assert payback_years([D(-100), D(100)]) == 2

    def test_counts_from_the_last_recovery_after_a_dip(self):
        # accumulated -100, 50, -50, 150: 3 + 50 / 200
        assert payback_years([D(-100), D(150), D(-100), D(200)]) == D("3.25")

    def test_never_when_still_negative_at_the_end(self):
        assert payback_years([D(-100), D(50)]) is None

    def test_zero_when_never_negative(self):
        assert payback_years([D(10), D(20)]) == 0


class TestRampAdjustment:
    def test_a_delay_leaves_the_first_year_empty(self, small_town):
        view = compute(small_town(), RampAdjustment(delay_years=1)).views[View.MAILING_COST]
        assert column(view, "moved_mailings") == [0, 100]
        assert column(view, "investment") == [10_000, 0]

    def test_usage_factor_is_capped_at_one_hundred_percent(self, small_town):
        view = compute(small_town(), RampAdjustment(usage_factor=D("1.25"))).views[
            View.MAILING_COST
        ]
        # 0.5 × 1.25 = 62.5 %; 1 × 1.25 capped at 100 %
        assert column(view, "usage") == [D("0.625"), D(1)]


class TestInputsWith:
    def test_changes_only_the_named_inputs(self):
        inputs = inputs_with({"inhabitants": "50000"})
        assert inputs.inhabitants == 50_000
        assert inputs.paper_cost == BenefitInputs().paper_cost

    @pytest.mark.parametrize("text", ["10%", "10 %", "0.10", "0,10"])
    def test_a_share_as_percentage_or_fraction(self, text):
        assert inputs_with({"decision_share": text}).decision_share == D("0.1")

    def test_swedish_decimal_comma_and_thousands_spaces(self):
        inputs = inputs_with({"paper_cost": "7,50", "investment": "1 250 000"})
        assert (inputs.paper_cost, inputs.investment) == (D("7.50"), 1_250_000)

    def test_unknown_name_lists_the_valid_names(self):
        with pytest.raises(InvalidInputsError) as error:
            inputs_with({"invanare": "5"})
        message = error.value.errors[0].message
        assert "okänd indata 'invanare'" in message
        assert all(name in message for name in INPUT_NAMES)

    def test_bad_number_names_the_input_and_the_text(self):
        with pytest.raises(InvalidInputsError) as error:
            inputs_with({"inhabitants": "abc"})
        assert error.value.errors[0].field == "inhabitants"
        assert error.value.errors[0].message == (
            "invånare (inhabitants) måste vara ett heltal mellan 0 och 100 000 000, fick 'abc'"
        )

    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("inhabitants", "1.5"),
            ("inhabitants", "-1"),
            ("years", "0"),
            ("years", "51"),
            ("connectable_processes", "0"),
            ("paper_cost", "-7"),
            ("paper_cost", "NaN"),
            ("investment", "Infinity"),
            ("usage_last", "10"),
            ("usage_last", "150%"),
            ("discount_rate", ""),
        ],
    )
    def test_rejects_values_out_of_range(self, name, text):
        with pytest.raises(InvalidInputsError) as error:
            inputs_with({name: text})
        assert f"({name}) måste vara" in error.value.errors[0].message

    def test_share_error_shows_both_ways_of_writing_it(self):
        with pytest.raises(InvalidInputsError, match=r"t\.ex\. 10% eller 0\.10, fick '10'"):
            inputs_with({"usage_last": "10"})

    def test_more_processes_connected_than_can_be(self):
        with pytest.raises(InvalidInputsError, match="kan inte vara fler än"):
            inputs_with({"processes_connected_last": "60"})

    def test_every_bad_input_is_named_and_none_is_applied(self):
        base = BenefitInputs()
        with pytest.raises(InvalidInputsError) as error:
            inputs_with({"inhabitants": "50000", "paper_cost": "x", "years": "zero"}, base)
        assert [item.field for item in error.value.errors] == ["paper_cost", "years"]
        assert base == BenefitInputs()

    def test_compute_refuses_inputs_out_of_range(self):
        with pytest.raises(InvalidInputsError, match="connectable_processes"):
            compute(BenefitInputs(connectable_processes=0))


class TestAssignments:
    def test_name_equals_value_with_spaces_around_the_name(self):
        overrides = parse_assignments(["inhabitants=5", "usage_last = 90%"])
        assert inputs_with(overrides) == inputs_with({"inhabitants": "5", "usage_last": "0.9"})

    def test_without_equals_sign_says_how_to_write_it(self):
        with pytest.raises(InvalidInputsError, match="saknar '='; skriv namn=värde"):
            parse_assignments(["inhabitants"])


class TestJson:
    def test_has_every_input_and_the_three_views(self):
        data = to_json(compute(BenefitInputs()))
        assert list(data["inputs"]) == list(INPUT_NAMES)
        assert list(data["views"]) == ["mailing_cost", "with_process_improvement", "with_security"]

    def test_money_to_two_decimals_and_shares_to_four(self):
        data = to_json(compute(BenefitInputs()))
        year_2 = data["views"]["with_process_improvement"]["years"][1]
        # 8,200 × 10 / 60 × 350 = 478,333.33…
        assert year_2["process_improvement"] == 478_333.33
        # 10.25 / 50 × 0.40
        assert year_2["digital_share"] == 0.082
        assert data["inputs"]["decision_share"] == 0.1

    def test_no_payback_is_null(self, small_town):
        totals = to_json(compute(small_town()))["views"]["mailing_cost"]["totals"]
        assert totals["payback_years_nominal"] is None
        assert totals["npv"] == -5840.0

    def test_payback_to_four_decimals(self, small_town):
        totals = to_json(compute(small_town()))["views"]["with_process_improvement"]["totals"]
        # 1 + 7,500 / 34,000 = 1.22058…
        assert totals["payback_years_nominal"] == 1.2206


class TestFormatting:
    def test_kronor_with_spaces_between_thousands(self):
        assert format_kr(D("1234567.6")) == "1 234 568"
        assert format_kr(D(-61243)) == "-61 243"

    def test_share_with_decimal_comma(self):
        assert format_share(D("0.082")) == "8,2 %"

    def test_payback_years_or_none(self):
        assert format_years(D("4.2064")) == "4,21 år"
        assert format_years(None) == "återbetalas inte inom perioden"
