"""The prefixed wire form of deliverSecure: every element namespace-prefixed, as JAXB writes.

`write_prefixed` gives `deliverSecure/deliverSecure` with the signed `SealedDelivery`'s children
in it, every element prefixed and every prefix declared once on the outer `deliverSecure`. Two
writers produce the same bytes:

- `rebuild_prefixed`, the simple one: a new tree, element by element, serialised by lxml. It
  takes any tree and is the reference the fast one is tested against.
- `rewrite_prefix_free`, the fast one (about four times faster for a text letter, see
  docs/performance.md "Wire forms"): it rewrites the tags of the prefix-free serialisation that
  Utskick signed. In that form every `<` starts a tag (lxml escapes `<` and `>` in text and
  attribute values) and every change of namespace is a default `xmlns="…"` declaration, so
  each tag can be renamed from its own text and the namespace of its parent. Whatever does not
  have that shape (a comment, a processing instruction, a prefixed name or attribute, a
  namespace without a named prefix) makes it answer None, and the simple writer runs instead.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Final

from lxml import etree

from utskick.mm import namespaces as ns

_OUTER_TAG: Final = ns.qname(ns.SERVICE_V3, "deliverSecure")
_INNER_START: Final = b"<svc:deliverSecure>"
_CLOSING: Final = b"</svc:deliverSecure></svc:deliverSecure>"

# Namespace (as lxml writes it in `xmlns="…"`) → the prefix with its colon. No namespace
# (`xmlns=""`) stays unprefixed, as lxml writes an element without one under prefixed parents.
_PREFIXES: Final[dict[bytes, bytes]] = {
    uri.encode(): prefix.encode() + b":" for uri, prefix in ns.WIRE_PREFIXES.items()
} | {b"": b""}
_NAMESPACES: Final[dict[bytes, str]] = {
    prefix: uri.decode() for uri, prefix in _PREFIXES.items() if prefix
}
_TAG: Final = re.compile(rb"(<[^>]*>)")
_END_TAG: Final = re.compile(rb"</([A-Za-z_][\w.-]*)>")
# Names without a colon, the default declaration first (as lxml writes it), attributes without
# a namespace; anything else is not the shape the fast writer knows.
_START_TAG: Final = re.compile(
    rb'<([A-Za-z_][\w.-]*)(?: xmlns="([^"]*)")?((?: (?!xmlns[=:])[\w.-]+="[^"]*")*)(/?)>'
)
_END, _START, _EMPTY = 0, 1, 2
_CHILDLESS: Final = 3  # text, `<SealedDelivery …/>`, text
# (parent's prefix, tag as written) → (tag as rewritten, kind, the element's prefix). Letters
# repeat the same few dozen tags; the bound only guards against unusual attribute values.
_TAG_CACHE: dict[tuple[bytes, bytes], tuple[bytes, int, bytes]] = {}
_TAG_CACHE_SIZE: Final = 4096


def write_prefixed(sealed_delivery: etree._Element) -> bytes:
    """`deliverSecure/deliverSecure` with every element prefixed, declared on the outer one.

    Only the namespaces the delivery uses are declared. Stripping the prefixes again (each
    element that changes namespace gets a default declaration) gives back the signed form,
    so both signatures verify for a receiver that strips, as the operators do.
    """
    fast = rewrite_prefix_free(sealed_delivery)
    return fast if fast is not None else rebuild_prefixed(sealed_delivery)


def rewrite_prefix_free(sealed_delivery: etree._Element) -> bytes | None:
    """The prefixed form by renaming the tags of the prefix-free serialisation.

    Returns None when the tree is not in the prefix-free shape described in the module's
    docstring; the output otherwise equals `rebuild_prefixed`'s byte for byte.
    """
    if sealed_delivery.text is not None:
        return None  # the simple writer leaves text directly in SealedDelivery out
    parts = _TAG.split(etree.tostring(sealed_delivery, encoding="UTF-8", with_tail=False))
    if len(parts) == _CHILDLESS:
        return None  # the simple writer writes an empty inner tag as `<svc:deliverSecure/>`
    parents = [b""]  # the prefix of each open element, the innermost last
    used: set[bytes] = set()
    cache = _TAG_CACHE
    for index in range(1, len(parts), 2):  # the odd parts are the tags, the rest text
        key = (parents[-1], parts[index])
        found = cache.get(key)
        if found is None:
            found = _rename(parts[index], parents[-1])
            if found is None:
                return None
            if len(cache) >= _TAG_CACHE_SIZE:
                cache.clear()
            cache[key] = found
        parts[index], kind, prefix = found
        if kind == _END:
            parents.pop()
        else:
            used.add(prefix)
            if kind == _START:
                parents.append(prefix)
    # SealedDelivery's own tags give way to the two deliverSecure elements.
    parts[1] = _opening(frozenset(used)) + _INNER_START
    parts[-2] = _CLOSING
    return b"".join(parts)


def _rename(tag: bytes, inherited: bytes) -> tuple[bytes, int, bytes] | None:
    """One tag rewritten with its prefix; `inherited` is the parent's (for an end tag: its own)."""
    end = _END_TAG.fullmatch(tag)
    if end is not None:
        return b"</" + inherited + end[1] + b">", _END, inherited
    start = _START_TAG.fullmatch(tag)
    if start is None:
        return None  # a comment, a PI, CDATA, a prefixed name or attribute
    name, declared, attributes, empty = start.groups()
    prefix = inherited if declared is None else _PREFIXES.get(declared)
    if prefix is None:
        return None  # a namespace without a named prefix: the simple writer numbers it
    return b"<" + prefix + name + attributes + empty + b">", _EMPTY if empty else _START, prefix


@lru_cache(maxsize=64)
def _opening(prefixes: frozenset[bytes]) -> bytes:
    """The outer start tag declaring the namespaces of these prefixes, written by lxml."""
    used = {ns.SERVICE_V3} | {_NAMESPACES[prefix] for prefix in prefixes if prefix}
    outer = etree.Element(_OUTER_TAG, nsmap=wire_prefixes(used))
    empty = etree.tostring(outer, encoding="UTF-8")
    return empty[: -len(b"/>")] + b">"


def rebuild_prefixed(sealed_delivery: etree._Element) -> bytes:
    """The prefixed form by building a new tree under prefixed declarations (any tree)."""
    used = {ns.SERVICE_V3}
    for element in sealed_delivery.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith("{"):
            used.add(tag[1 : tag.index("}")])
    outer = etree.Element(_OUTER_TAG, nsmap=wire_prefixes(used))
    inner = etree.SubElement(outer, _OUTER_TAG)
    for child in sealed_delivery:
        _append_prefixed(inner, child)
    return etree.tostring(outer, encoding="UTF-8")


def wire_prefixes(namespaces: set[str]) -> dict[str, str]:
    """Prefix → namespace: the named prefixes, and `ns1`, `ns2`, … for any other namespace."""
    # A fixed order, so that the same delivery is always the same bytes.
    prefixes = {
        prefix: namespace
        for namespace, prefix in ns.WIRE_PREFIXES.items()
        if namespace in namespaces
    }
    others = sorted(n for n in namespaces if n not in ns.WIRE_PREFIXES)
    for number, namespace in enumerate(others, start=1):
        prefixes[f"ns{number}"] = namespace
    return prefixes


def _append_prefixed(parent: etree._Element, source: etree._Element) -> None:
    """Copy `source` under `parent`; each element takes the prefix declared above it."""
    if not isinstance(source.tag, str):
        parent.append(copy.deepcopy(source))  # a comment or PI stays as it was signed
        return
    element = etree.SubElement(parent, source.tag)
    for name, value in source.items():
        element.set(name, value)
    if source.text is not None:
        element.text = source.text
    if source.tail is not None:
        element.tail = source.tail
    for child in source:
        _append_prefixed(element, child)
