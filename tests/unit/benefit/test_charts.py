"""The charts as files a user opens: PNG of the promised size, SVG with Swedish text and bars."""

import struct
from pathlib import Path

import pytest
from lxml import etree

from utskick.benefit.charts import (
    ChartFormatError,
    chart_format,
    inline_svg,
    model_chart,
    render,
    tornado_chart,
)
from utskick.benefit.model import INPUT_NAMES, BenefitInputs, View, compute
from utskick.benefit.sensitivity import tornado

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


def png_size(data):
    # The IHDR chunk follows the signature: length, type, then width and height.
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_tree(data):
    return etree.fromstring(data)


def texts(tree):
    return {"".join(element.itertext()).strip() for element in tree.iter(f"{SVG}text")}


def ids_starting(tree, prefix):
    return [
        element.get("id") for element in tree.iter() if (element.get("id") or "").startswith(prefix)
    ]


class TestChartFormat:
    @pytest.mark.parametrize(("name", "expected"), [("a.png", "png"), ("b.SVG", "svg")])
    def test_from_the_suffix(self, name, expected):
        assert chart_format(Path(name)) == expected

    def test_other_suffixes_are_refused_in_swedish(self):
        with pytest.raises(ChartFormatError, match=r"\.png eller \.svg, inte 'a\.jpg'"):
            chart_format(Path("a.jpg"))


class TestModelChart:
    def test_png_of_three_panels(self, small_town):
        data = render(model_chart(compute(small_town())), "png")
        assert data.startswith(PNG_SIGNATURE)
        # three panels of 6 × 5 inches at 100 dpi
        assert png_size(data) == (1800, 500)

    def test_png_of_one_view(self, small_town):
        data = render(model_chart(compute(small_town()), View.WITH_SECURITY), "png")
        assert png_size(data) == (600, 500)

    def test_svg_has_swedish_labels(self, small_town):
        tree = svg_tree(render(model_chart(compute(small_town())), "svg"))
        shown = texts(tree)
        for label in ("Kostnader", "Nyttor", "Ackumulerat netto", "År", "kr"):
            assert label in shown
        assert "A + B. Med processförbättring" in shown

    def test_svg_has_one_bar_per_year_and_series(self, small_town):
        tree = svg_tree(render(model_chart(compute(small_town(years=2))), "svg"))
        for panel in (1, 2, 3):
            assert ids_starting(tree, f"kostnader-{panel}-ar-") == [
                f"kostnader-{panel}-ar-1",
                f"kostnader-{panel}-ar-2",
            ]
            assert len(ids_starting(tree, f"nyttor-{panel}-ar-")) == 2
            assert len(ids_starting(tree, f"ackumulerat-netto-{panel}")) == 1

    def test_example_municipality_has_five_years(self):
        tree = svg_tree(render(model_chart(compute(BenefitInputs()), View.MAILING_COST), "svg"))
        assert len(ids_starting(tree, "kostnader-1-ar-")) == 5
        assert len(ids_starting(tree, "nyttor-1-ar-")) == 5

    def test_kronor_axis_with_spaces_between_thousands(self):
        tree = svg_tree(render(model_chart(compute(BenefitInputs()), View.MAILING_COST), "svg"))
        assert "400 000" in texts(tree)


class TestTornadoChart:
    def test_one_bar_pair_per_input(self):
        tree = svg_tree(render(tornado_chart(tornado(BenefitInputs())), "svg"))
        assert len(ids_starting(tree, "tornado-lag-")) == len(INPUT_NAMES)
        assert len(ids_starting(tree, "tornado-hog-")) == len(INPUT_NAMES)
        assert "Papperskostnad per utskick (material och porto)" in texts(tree)

    def test_png_grows_with_the_inputs(self):
        data = render(tornado_chart(tornado(BenefitInputs())), "png")
        assert data.startswith(PNG_SIGNATURE)
        # 10 inches wide; 1.5 + 0.4 × 18 inputs = 8.7 inches high
        assert png_size(data) == (1000, 870)


class TestInlineSvg:
    def test_starts_at_the_svg_element(self, small_town):
        svg = inline_svg(model_chart(compute(small_town())), "sida")
        assert svg.startswith("<svg")

    def test_two_charts_on_one_page_share_no_clip_ids(self, small_town):
        result = compute(small_town())
        first = svg_tree(inline_svg(model_chart(result), "en").encode())
        second = svg_tree(inline_svg(model_chart(result), "två").encode())
        clips = [
            {clip.get("id") for clip in tree.iter(f"{SVG}clipPath")} for tree in (first, second)
        ]
        assert clips[0]
        assert not clips[0] & clips[1]
