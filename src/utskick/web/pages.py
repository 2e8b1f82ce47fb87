"""What the pages areas add to the web app share.

Templates with the app's layout, and inline SVG charts the Content-Security-Policy lets the
browser draw.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from lxml import etree

WEB_TEMPLATES = Path(__file__).with_name("templates")

_SVG = "http://www.w3.org/2000/svg"
# The CSS properties matplotlib writes that SVG also takes as presentation attributes.
PRESENTATION_ATTRIBUTES = frozenset({
    "clip-path", "fill", "fill-opacity", "fill-rule", "font-family", "font-size", "font-style",
    "font-weight", "opacity", "stroke", "stroke-dasharray", "stroke-dashoffset",
    "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-opacity", "stroke-width",
    "text-anchor",
})  # fmt: skip
_EVERY_ELEMENT_RULE = re.compile(r"\s*\*\s*\{([^}]*)\}\s*")


def page_templates(folder: Path) -> Jinja2Templates:
    """Templates from an area's folder that may extend the app's `layout.html`."""
    templates = Jinja2Templates(directory=[str(folder), str(WEB_TEMPLATES)])
    templates.env.globals["layout"] = layout
    return templates


def layout(request: Request, user: object = None) -> dict[str, Any]:
    """The layout's header for this request: who is logged in and the menu of their role.

    The web app's auth (`include_auth`) provides it; an app without auth shows no one.
    """
    provide: Callable[[Request, object], dict[str, Any]] | None = getattr(
        request.app.state, "layout_context", None
    )
    if provide is None:
        return {"user": None, "menu": [], "current_path": request.url.path}
    return provide(request, user)


def _declarations(css: str) -> list[tuple[str, str]]:
    """`name: value` pairs of a style attribute or rule body, each a presentation attribute.

    Raises:
        ValueError: a property SVG does not take as an attribute (the chart would change).
    """
    pairs = []
    for declaration in css.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not name:
            continue
        if name not in PRESENTATION_ATTRIBUTES:
            raise ValueError(f"SVG style property {name!r} has no presentation attribute")
        pairs.append((name, value))
    return pairs


def _remove(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


def svg_for_strict_csp(svg: str) -> str:
    """An inline SVG chart with its styles as presentation attributes.

    The page's Content-Security-Policy (`style-src 'self'`) blocks style attributes and
    `<style>` elements in the page, inline SVG included; presentation attributes are not
    styles and draw the same. matplotlib's one rule for every element becomes attributes on
    the root, which every element inherits unless it sets its own. The metadata (creation
    time, tool) goes, as nothing on the page reads it.

    Raises:
        ValueError: the SVG has a style that cannot be an attribute.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(svg.encode("utf-8"), parser)
    for metadata in root.findall(f".//{{{_SVG}}}metadata"):
        _remove(metadata)
    for style in root.findall(f".//{{{_SVG}}}style"):
        rule = _EVERY_ELEMENT_RULE.fullmatch(style.text or "")
        if rule is None:
            raise ValueError(f"SVG <style> other than one rule for '*': {style.text!r}")
        for name, value in _declarations(rule.group(1)):
            root.set(name, value)
        _remove(style)
    for element in root.iter():
        css = element.get("style")
        if css is not None:
            del element.attrib["style"]
            for name, value in _declarations(css):
                element.set(name, value)
    return etree.tostring(root, encoding="unicode")
