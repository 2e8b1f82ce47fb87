"""The packaged Swagger UI, ReDoc and our own static files load nothing from another host.

An intranet often has no way out: an image, script, style or font from a CDN is a failed
request on every visit (and a way for that CDN into our origin). Links a person may click
(`href`) are fine.
"""

import re
from pathlib import Path

import utskick.web

STATIC = Path(utskick.web.__file__).parent / "static"
# What a browser fetches by itself: a source attribute, a CSS url(), or any CDN host. (Not
# JavaScript's `new URL("https://…")`, which parses a string and fetches nothing.)
LOADED_FROM_ELSEWHERE = re.compile(
    r"""src["']?\s*[:=]\s*["']https?://|url\(\s*["']?https?://|//cdn\."""
)


def test_no_packaged_script_or_style_loads_from_another_host():
    files = [p for p in STATIC.rglob("*") if p.suffix in {".js", ".css", ".html"}]
    assert len(files) >= 5  # the two bundles, swagger's css, our css and start script
    found = {
        str(path.relative_to(STATIC)): match.group(0)
        for path in files
        for match in [LOADED_FROM_ELSEWHERE.search(path.read_text(encoding="utf-8"))]
        if match
    }
    assert found == {}
