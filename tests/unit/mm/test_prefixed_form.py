"""The fast prefixed writer gives exactly the bytes of the simple tree rebuild.

`rebuild_prefixed` (a new tree, element by element, serialised by lxml) is the reference; the
fast writer renames the tags of the signed prefix-free serialisation. For every delivery
Utskick builds, the fast one must take its own path (not fall back) and give the same bytes;
for what it does not know, it must step aside so the rebuild writes it.
"""

import datetime as dt
import html

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from support.independent_verifier import (
    c14n,
    inner_deliver_secure,
    renamed_to_sealed_delivery,
    strip_prefixes_textually,
)
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm.delivery import Attachment, Delivery, OfficialMatter, SecureMessage, SupportInfo
from utskick.mm.prefixed_form import rebuild_prefixed, rewrite_prefix_free, write_prefixed
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import WireForm, deliver_secure_request

# Text as a sender might write it: any character XML allows, the five that need escaping,
# Swedish letters, tabs, new lines and carriage returns.
_XML_TEXT = st.text(
    st.one_of(
        st.sampled_from(list("&<>\"'åäöÅÄÖ–é€\t\n\r ")),
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    ),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")
_OPTIONAL = st.none() | _XML_TEXT
_PDFS = st.sampled_from([minimal_pdf(700), minimal_pdf(3000)])


@st.composite
def deliveries(draw):
    """A delivery with any mix of attachments, official matter, metadata and support fields."""
    messages = []
    for number in range(draw(st.integers(1, 2))):
        body, content_type = draw(_XML_TEXT), draw(st.sampled_from(["text/plain", "text/html"]))
        if content_type == "text/html":
            body = f"<p><strong>{html.escape(body)}</strong></p>"
        attachments = tuple(
            Attachment(draw(_XML_TEXT) + ".pdf", draw(_PDFS))
            for _ in range(draw(st.integers(0, 2)))
        )
        official = draw(
            st.none()
            | st.builds(
                OfficialMatter,
                timestamp=st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)),
                event_id=_OPTIONAL,
                official_matter_id=_OPTIONAL,
                matter_subject=_OPTIONAL,
            )
        )
        messages.append(
            SecureMessage(
                id=f"m-{number}",
                subject=draw(_XML_TEXT),
                support_info=SupportInfo(
                    draw(_XML_TEXT),
                    url=draw(st.none() | st.just("https://exempel.se/?a=1&b=<2>")),
                    phone_number=draw(st.none() | st.just("010-123 45 67")),
                    email_address=draw(st.none() | st.just("a@b.se")),
                ),
                body=body.encode(),
                body_content_type=content_type,
                attachments=attachments,
                metadata=tuple(draw(st.lists(st.tuples(_XML_TEXT, _XML_TEXT), max_size=2))),
                official_matter=official,
            )
        )
    return Delivery(
        sender_id="162021004748",
        sender_name="Kommun " + draw(_XML_TEXT),
        recipient_id="191212121212",
        messages=tuple(messages),
        reference=draw(_OPTIONAL),
        attention=draw(_OPTIONAL),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(delivery=deliveries())
def test_the_fast_writer_gives_the_rebuilds_bytes_for_any_delivery(
    delivery, sender, intermediary, today
):
    sealed = sign_and_seal(delivery, sender, intermediary, received_on=today)
    fast = rewrite_prefix_free(sealed)
    assert fast is not None, "a delivery Utskick built must not need the slow writer"
    assert fast == rebuild_prefixed(sealed)
    # And it is still the signed form once the prefixes are stripped again.
    wire = deliver_secure_request(sealed, WireForm.PREFIXED)
    assert fast in wire
    stripped = renamed_to_sealed_delivery(inner_deliver_secure(strip_prefixes_textually(wire)))
    assert c14n(stripped) == c14n(sealed)


@pytest.fixture(scope="module")
def sealed(sender, intermediary, today):
    message = SecureMessage(
        id="1",
        subject="Beslut & <besked> \"'",
        support_info=SupportInfo("Ring oss"),
        body=b"Hej",
        attachments=(Attachment("beslut.pdf", minimal_pdf(2000)),),
        official_matter=OfficialMatter(dt.date(2026, 12, 6), event_id="1"),
    )
    delivery = Delivery("162021004748", "Exempelkommun", "191212121212", (message,))
    return sign_and_seal(delivery, sender, intermediary, received_on=today)


def test_deliver_secure_request_writes_the_prefixed_form_with_the_fast_writer(sealed):
    fast = rewrite_prefix_free(sealed)
    assert fast is not None
    assert deliver_secure_request(sealed, WireForm.PREFIXED).endswith(
        fast + b"</soap:Body></soap:Envelope>"
    )


def copy_of(sealed):
    return etree.fromstring(etree.tostring(sealed))


def with_comment(sealed):
    changed = copy_of(sealed)
    changed[0][0].append(etree.Comment(" anteckning "))
    return changed


def with_unknown_namespace(sealed):
    changed = copy_of(sealed)
    note = etree.SubElement(
        changed[0], "{urn:example:extension}Note", nsmap={None: "urn:example:extension"}
    )
    note.text = "x"
    return changed


def with_namespaced_attribute(sealed):
    changed = copy_of(sealed)
    changed[0][0].set("{http://www.w3.org/XML/1998/namespace}lang", "sv")
    return changed


def with_text_in_sealed_delivery(sealed):
    changed = copy_of(sealed)
    changed.text = "\n"
    return changed


def with_prefixed_element(sealed):
    changed = copy_of(sealed)
    etree.SubElement(changed[0], "{urn:example:x}Extra", nsmap={"x": "urn:example:x"})
    return changed


@pytest.mark.parametrize(
    "change",
    [
        with_comment,
        with_unknown_namespace,
        with_namespaced_attribute,
        with_text_in_sealed_delivery,
        with_prefixed_element,
    ],
)
def test_what_the_fast_writer_does_not_know_is_left_to_the_rebuild(sealed, change):
    changed = change(sealed)
    assert rewrite_prefix_free(changed) is None
    assert write_prefixed(changed) == rebuild_prefixed(changed)


def test_another_implementations_signed_form_is_written_as_the_rebuild_writes_it(sample_bytes):
    sample = etree.fromstring(sample_bytes)
    assert write_prefixed(sample) == rebuild_prefixed(sample)
