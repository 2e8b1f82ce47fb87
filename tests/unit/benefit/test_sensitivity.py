"""Sensitivity scenarios and the tornado, on the hand-computed small town of test_model."""

from decimal import Decimal

from utskick.benefit.model import BenefitInputs, View
from utskick.benefit.sensitivity import analyse, scenarios, to_json, tornado

D = Decimal

# The small town's mailing-cost view: NPV -8,400 + 2,560 = -5,840 (see test_model).
BASE_NPV = -5840


def scenario(key, inputs, **options):
    found = {item.key: item for item in scenarios(inputs, **options)}
    return found[key]


def npv(item, view=View.MAILING_COST):
    return item.outcomes[view].npv


class TestScenarios:
    def test_base_case_first(self, small_town):
        found = scenarios(small_town())
        assert found[0].key == "base"
        assert npv(found[0]) == BASE_NPV

    def test_lower_uptake_halves_usage(self, small_town):
        # moved 50, 500; A 350, 3,500; costs 11,100, 2,000
        # nets -10,750, 1,500 → -8,600 + 960
        assert npv(scenario("uptake_0.5", small_town())) == -7640

    def test_higher_uptake_is_capped_at_full_usage(self, small_town):
        # usage 62.5 %, 125 % → 100 %: moved 125, 1,000; costs 11,250, 3,000
        # nets -10,375, 4,000 → -8,300 + 2,560
        assert npv(scenario("uptake_1.25", small_town())) == -5740

    def test_running_costs_up(self, small_town):
        # running 1,200, digital 2.40: costs 11,440, 3,600; nets -10,740, 3,400 → -8,592 + 2,176
        assert npv(scenario("running_cost_up", small_town())) == -6416

    def test_running_costs_down(self, small_town):
        # running 800, digital 1.60: costs 10,960, 2,400; nets -10,260, 4,600 → -8,208 + 2,944
        assert npv(scenario("running_cost_down", small_town())) == -5264

    def test_the_change_of_running_costs_can_be_chosen(self, small_town):
        # running 1,500, digital 3: costs 11,800, 4,500; nets -11,100, 2,500 → -8,880 + 1,600
        assert npv(scenario("running_cost_up", small_town(), running_cost_change=D("0.5"))) == -7280

    def test_a_year_of_delay(self, small_town):
        # moved 0, 100; costs 11,000, 1,200; nets -11,000, -500 → -8,800 - 320
        assert npv(scenario("delay_1_year", small_town())) == -9120

    def test_every_view_has_its_payback(self, small_town):
        # A + B one year late: nets -11,000 and 3,700 - 1,200 = 2,500: never paid back
        late = scenario("delay_1_year", small_town()).outcomes[View.WITH_PROCESS_IMPROVEMENT]
        assert late.payback_years_nominal is None
        # A + B at higher uptake: moved 125, 1,000 at 7 + 30 kr; costs 11,250, 3,000
        # nets -6,625, 34,000: 1 + 6,625 / 34,000
        early = scenario("uptake_1.25", small_town()).outcomes[View.WITH_PROCESS_IMPROVEMENT]
        assert early.payback_years_nominal == 1 + D(6625) / D(34_000)

    def test_labels_are_swedish(self, small_town):
        labels = [item.label for item in scenarios(small_town())]
        assert labels == [
            "Grundfall",
            "Användning × 0,5",
            "Användning × 0,75",
            "Användning × 1,25",
            "Driftkostnader +20 %",
            "Driftkostnader −20 %",
            "Ett års försening",
        ]


class TestTornado:
    def bar(self, name, inputs):
        return {bar.name: bar for bar in tornado(inputs).bars}[name]

    def test_moves_an_input_down_and_up(self, small_town):
        bar = self.bar("paper_cost", small_town())
        assert (bar.low_value, bar.high_value) == (D("5.6"), D("8.4"))
        # A 560, 5,600: nets -10,640, 2,600 → -8,512 + 1,664
        assert bar.npv_low == -6848
        # A 840, 8,400: nets -10,360, 5,400 → -8,288 + 3,456
        assert bar.npv_high == -4832
        assert bar.swing == 2016

    def test_shares_stay_within_one_hundred_percent(self, small_town):
        bar = self.bar("usage_last", small_town())
        assert bar.high_value == 1
        assert bar.npv_high == BASE_NPV
        # year 2 moves 800: A 5,600, cost 2,600, net 3,000 → -8,400 + 1,920
        assert bar.npv_low == -6480

    def test_fewer_connectable_processes_cap_those_connected(self, small_town):
        bar = self.bar("connectable_processes", small_town())
        assert bar.low_value == 8
        # 2/8 × 50 % then 8/8 × 100 %: moved 125, 1,000 → nets -10,375, 4,000
        assert bar.npv_low == -5740

    def test_integers_are_rounded(self):
        bar = self.bar("years", BenefitInputs())
        assert (bar.low_value, bar.high_value) == (4, 6)

    def test_widest_swing_first(self):
        swings = [bar.swing for bar in tornado(BenefitInputs()).bars]
        assert swings == sorted(swings, reverse=True)
        assert swings[0] > swings[-1]

    def test_reads_the_chosen_view(self, small_town):
        bar = {b.name: b for b in tornado(small_town(), View.WITH_SECURITY).bars}["security_value"]
        # C at 40 kr instead of 50: year 1 loses 500, year 2 5,000 → -400 - 3,200 from 12,160
        assert bar.npv_low == 12_160 - 400 - 3200
        assert tornado(small_town(), View.WITH_SECURITY).base_npv == 12_160


class TestJson:
    def test_scenarios_and_tornado(self, small_town):
        data = to_json(analyse(small_town()))
        base = data["scenarios"][0]
        assert base["key"] == "base"
        assert base["views"]["mailing_cost"]["npv"] == -5840.0
        assert base["views"]["mailing_cost"]["payback_years_nominal"] is None
        assert data["tornado"]["view"] == "mailing_cost"
        assert data["tornado"]["change"] == 0.2
        assert data["tornado"]["base_npv"] == -5840.0
        assert {bar["input"] for bar in data["tornado"]["bars"]} == set(data["inputs"])
