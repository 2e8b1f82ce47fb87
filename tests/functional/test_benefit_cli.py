"""`nytta` as a user runs it: tables, JSON, --set, charts and sensitivity."""

import json

import pytest
import typer
from typer.testing import CliRunner

from utskick.entrypoints.cli.nytta import NYTTA_HELP, nytta

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run():
    app = typer.Typer()
    app.command("nytta", help=NYTTA_HELP)(nytta)

    @app.callback()
    def main():
        """Keep `nytta` a subcommand, as on the real app."""

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, ["nytta", *args], env={"COLUMNS": "160"})

    return invoke


def png_size(data):
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class TestTables:
    def test_three_views_with_totals(self, run):
        result = run()
        assert result.exit_code == 0, result.output
        for title in (
            "A. Utskickskostnad",
            "A + B. Med processförbättring",
            "A + C. Med säkerhetsvärde",
        ):
            assert title in result.stdout
        # 126,500 moved mailings × 7 kr, in whole kronor with spaces between thousands
        assert "885 500" in result.stdout
        assert "Totalt" in result.stdout

    def test_npv_and_both_paybacks_are_stated(self, run):
        result = run()
        assert "Nuvärde 100 000 kr" in result.stdout
        assert "4,21 år på ackumulerat netto, 4,50 år på diskonterat netto" in result.stdout

    def test_inputs_are_listed_with_their_names(self, run):
        result = run("--set", "inhabitants=50000")
        assert "inhabitants" in result.stdout
        assert "50 000" in result.stdout


class TestJson:
    def test_shape(self, run):
        result = run("--json")
        data = json.loads(result.stdout)
        assert set(data["views"]) == {"mailing_cost", "with_process_improvement", "with_security"}
        totals = data["views"]["mailing_cost"]["totals"]
        assert set(totals) >= {
            "benefit",
            "cost",
            "net",
            "npv",
            "payback_years_nominal",
            "payback_years_discounted",
        }
        assert len(data["views"]["mailing_cost"]["years"]) == data["inputs"]["years"] == 5
        assert data["inputs"]["hourly_cost"] == 350

    def test_set_changes_the_result(self, run):
        default = json.loads(run("--json").stdout)
        changed = json.loads(run("--json", "--set", "inhabitants=50000").stdout)
        # half the inhabitants, half the mailings moved: 885,500 / 2
        assert changed["views"]["mailing_cost"]["totals"]["benefit"] == 442_750
        assert changed["inputs"]["inhabitants"] == 50_000
        assert default["views"]["mailing_cost"]["totals"]["benefit"] == 885_500

    def test_set_takes_percentages(self, run):
        data = json.loads(
            run("--json", "--set", "usage_last=90%", "--set", "paper_cost=7,5").stdout
        )
        assert data["inputs"]["usage_last"] == 0.9
        assert data["inputs"]["paper_cost"] == 7.5

    def test_never_paid_back_is_null(self, run):
        data = json.loads(run("--json", "--set", "investment=10000000").stdout)
        assert data["views"]["mailing_cost"]["totals"]["payback_years_nominal"] is None

    def test_with_sensitivity(self, run):
        data = json.loads(run("--json", "--kanslighet").stdout)
        keys = [scenario["key"] for scenario in data["sensitivity"]["scenarios"]]
        assert keys[0] == "base"
        assert "delay_1_year" in keys
        assert data["sensitivity"]["tornado"]["bars"][0]["swing"] > 0


class TestBadInput:
    def test_unknown_name_exits_2_and_lists_the_names(self, run, tmp_path):
        chart = tmp_path / "nytta.png"
        result = run("--set", "invanare=5", "--chart", str(chart))
        assert result.exit_code == 2
        assert "okänd indata 'invanare'; giltiga namn: inhabitants" in result.stderr
        assert result.stdout == ""
        assert not chart.exists()

    def test_bad_value_names_the_input(self, run):
        result = run("--set", "inhabitants=många")
        assert result.exit_code == 2
        assert (
            "invånare (inhabitants) måste vara ett heltal mellan 0 och 100 000 000, fick 'många'"
            in result.stderr
        )

    def test_missing_equals_sign(self, run):
        result = run("--set", "inhabitants")
        assert result.exit_code == 2
        assert "skriv namn=värde" in result.stderr

    def test_chart_suffix_must_be_png_or_svg(self, run, tmp_path):
        result = run("--chart", str(tmp_path / "nytta.jpg"))
        assert result.exit_code == 2
        assert ".png eller .svg" in result.stderr
        assert list(tmp_path.iterdir()) == []


class TestCharts:
    def test_png_of_the_three_views(self, run, tmp_path):
        chart = tmp_path / "nytta.png"
        result = run("--chart", str(chart))
        assert result.exit_code == 0
        data = chart.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert png_size(data) == (1800, 500)
        assert f"Diagrammet är sparat i {chart}" in result.stdout.replace("\n", "")

    def test_svg_with_sensitivity_is_the_tornado(self, run, tmp_path):
        chart = tmp_path / "tornado.svg"
        result = run("--kanslighet", "--chart", str(chart))
        assert result.exit_code == 0
        assert "Känslighet: nuvärdet när en indata i taget ändras" in chart.read_text()


class TestSensitivity:
    def test_scenarios_and_tornado_tables(self, run):
        result = run("--kanslighet")
        assert result.exit_code == 0
        for label in ("Grundfall", "Användning × 0,5", "Driftkostnader +20 %", "Ett års försening"):
            assert label in result.stdout
        assert "Tornado: nuvärde" in result.stdout
        assert "Spännvidd" in result.stdout
