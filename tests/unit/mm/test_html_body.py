"""HTML bodies are judged as a browser parses them: every parser differential a sanitizer can
get wrong is refused with a Swedish reason naming what is not allowed."""

import time

import pytest

from utskick.mm.delivery import DeliveryDocumentError, check_restricted_html
from utskick.mm.html_body import HtmlBodyError, check_html_body

ACCEPTED = [
    pytest.param(
        '<p>Hej <strong>Anna</strong>, läs <a href="https://exempel.se/beslut">här</a>.</p>',
        id="simple-formatting-and-an-https-link",
    ),
    pytest.param("<p>Ditt ärende<p>Med vänlig hälsning", id="unclosed-p-closed-by-the-browser"),
    pytest.param("<b>fetstil utan sluttagg", id="unclosed-b-at-the-end"),
    pytest.param("<a href=https://exempel.se/a?b=1>länk</a>", id="unquoted-attribute-value"),
    pytest.param('<a href="  HTTPS://exempel.se  ">x</a>', id="scheme-in-capitals-and-spaces"),
    pytest.param('<a href="mailto:bygg@exempel.se">mejla</a>', id="mailto-link"),
    pytest.param("Belopp < 500 kr & moms > 0", id="bare-less-than-and-ampersand-in-text"),
    pytest.param(
        '<table><tr><th colspan="2">Avgift</th></tr><tr><td>Bygglov</td><td>5 000 kr</td></tr>'
        "</table>",
        id="table-with-colspan",
    ),
    pytest.param(
        "<!DOCTYPE html><html><head></head><body><h1>Beslut</h1><hr></body></html>",
        id="a-whole-document-without-attributes",
    ),
]


@pytest.mark.parametrize("html", ACCEPTED)
def test_simple_formatting_is_accepted(html):
    check_html_body(html)


REFUSED = [
    # Comments in every form a browser makes one of.
    pytest.param("<p>a</p><!-- dold text -->", "kommentarer", id="comment"),
    pytest.param("<![CDATA[<script>alert(1)</script>]]>", "kommentarer", id="cdata-is-a-comment"),
    pytest.param("<p>a<!x>b</p>", "kommentarer", id="bogus-comment-bang"),
    pytest.param("<p>a<?php echo 1 ?></p>", "kommentarer", id="processing-instruction"),
    # Tags a sloppy tokenizer reads differently.
    pytest.param("<p>a</p onclick=alert(1)>", "en sluttagg har attribut", id="end-tag-attr"),
    pytest.param("</p <script>alert(1)</script>", "attributnamn", id="end-tag-hiding-script"),
    pytest.param(
        "<scr<script>ipt>alert(1)</script>", "<scr<script> är inte tillåtet", id="split-script"
    ),
    pytest.param(
        '<a href="https://x"onclick="alert(1)">x</a>', "onclick", id="attributes-run-together"
    ),
    pytest.param(
        '<a href="https://exempel.se" href="javascript:alert(1)">x</a>',
        "två gånger",
        id="repeated-attribute",
    ),
    pytest.param('<p x"=1>a</p>', 'attributet x" på <p>', id="quote-in-attribute-name"),
    pytest.param(
        "<a href=https://exempel.se/`onmouseover=alert(1)>x</a>",
        "href på <a>",
        id="backtick-in-unquoted-url",
    ),
    pytest.param("<hr/ >", "snedstreck mitt i en tagg", id="solidus-inside-a-tag"),
    pytest.param('<a href="https://exempel.se', "inte avslutad", id="unfinished-tag"),
    # Foreign content and raw-text elements.
    pytest.param("<svg><style><img src=x onerror=alert(1)></style></svg>", "<svg>", id="svg-style"),
    pytest.param("<math><mi><mglyph><style><img src=x onerror=1>", "<math>", id="math-namespace"),
    pytest.param(
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        "<noscript>",
        id="noscript",
    ),
    pytest.param("<template><script>alert(1)</script></template>", "<template>", id="template"),
    pytest.param("<p>Hej<script>alert(1)</script></p>", "<script>", id="script"),
    pytest.param("<style>p{color:red}</style><p>x</p>", "<style>", id="style-element"),
    # Links that are not plain web or mail addresses, however they are spelled.
    pytest.param('<a href="jav&#x09;ascript:alert(1)">x</a>', "href på <a>", id="tab-entity-url"),
    pytest.param('<a href="java\nscript:alert(1)">x</a>', "href på <a>", id="newline-in-scheme"),
    pytest.param("<a href=javascript:alert(1)>x</a>", "href på <a>", id="javascript-unquoted"),
    pytest.param(
        '<a href="&#106;avascript:alert(1)">x</a>', "href på <a>", id="entity-encoded-scheme"
    ),
    pytest.param('<a href="data:text/html,<b>x</b>">x</a>', "href på <a>", id="data-url"),
    pytest.param('<a href="//evil.example/x">x</a>', "href på <a>", id="scheme-relative"),
    pytest.param('<a href="/logout">x</a>', "href på <a>", id="relative-url"),
    # Event handlers and styles.
    pytest.param('<p onclick="alert(1)">Hej</p>', "attributet onclick på <p>", id="onclick"),
    pytest.param("<p title=x onmouseover=alert(1)>Hej</p>", "attributet title", id="unquoted-on"),
    pytest.param(
        '<p style="background:url(https://evil.example/x)">x</p>',
        "attributet style på <p>",
        id="style-url",
    ),
    pytest.param(
        "<html><body onload=alert(1)><p>x</p></body></html>", "attribut på <body>", id="body-onload"
    ),
    # Elements that load, navigate, submit or embed.
    pytest.param(
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        "<meta>",
        id="meta-refresh",
    ),
    pytest.param('<base href="https://evil.example/">', "<base>", id="base"),
    pytest.param(
        '<form action="https://evil.example"><input name=pnr></form>', "<form>", id="form"
    ),
    pytest.param('<iframe src="https://evil.example"></iframe>', "<iframe>", id="iframe"),
    pytest.param('<object data="x.swf"></object>', "<object>", id="object"),
    pytest.param("<img src=x onerror=alert(1)>", "<img>", id="img-onerror"),
    pytest.param(
        '<table><tr><td colspan="2;x">a</td></tr></table>',
        "tal från 1 till 999",
        id="colspan-not-a-number",
    ),
]


@pytest.mark.parametrize(("html", "reason"), REFUSED)
def test_what_the_browser_would_see_as_active_or_hidden_is_refused(html, reason):
    with pytest.raises(HtmlBodyError) as refused:
        check_html_body(html)
    assert reason in str(refused.value)


def test_the_wire_builder_uses_the_same_check():
    # Building a delivery refuses what intake refuses: neither can be bypassed by the other.
    with pytest.raises(DeliveryDocumentError, match="kommentarer"):
        check_restricted_html("<![CDATA[x]]><p>a</p>")


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        # Each took html5lib minutes unbounded (quadratic): 145 s, 18 s and 400 s.
        pytest.param("<div>" * 50_000, "nästlad i fler än 200 nivåer", id="unclosed-divs"),
        pytest.param("<b>" * 50_000 + "x", "nästlad i fler än 200 nivåer", id="unclosed-bold"),
        pytest.param(
            "<p " + " ".join(f"a{i}=1" for i in range(100_000)) + ">",
            "fler än 20 attribut",
            id="one-tag-with-100000-attributes",
        ),
    ],
)
def test_a_body_built_to_make_the_parser_slow_is_refused_at_once(html, reason):
    started = time.perf_counter()
    with pytest.raises(HtmlBodyError, match=reason):
        check_html_body(html)
    assert time.perf_counter() - started < 2


def test_nesting_a_letter_could_need_is_accepted():
    check_html_body("<div>" * 150 + "<p>Beslut</p>" + "</div>" * 150)
    check_html_body("<ul><li>" * 60 + "punkt")
