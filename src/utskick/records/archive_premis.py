"""The package's preservation metadata: PREMIS 3 objects, events and agents.

`metadata/preservation/premis.xml` holds
- an object (category file) for every file of the representation and for the descriptive
  records file, with its SHA-256 fixity, size and format (PDF/A-2b for the record PDFs as
  PRONOM fmt/476, the attachments as PDF, the records file as XML);
- an event of type "creation" for every letter's record PDF (rendered from the letter's
  record when the package was made), and one "message digest calculation" event for the
  package's fixity values;
- the agents: the software (Utskick and its version), the organisation that created the
  records (the archival creator), and the person who ran the export, when one did.

It is written incrementally (lxml `xmlfile`), one element at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from utskick.records.archive_files import PackageFile

PREMIS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{PREMIS} https://www.loc.gov/standards/premis/premis.xsd"
RECORD_PDF_FORMAT = ("Acrobat PDF/A - Portable Document Format", "2b", "fmt/476")
_P = f"{{{PREMIS}}}"


@dataclasses.dataclass(frozen=True)
class PremisAgents:
    """Who did what: the software, the archival creator, and the person (if any)."""

    software_version: str
    organisation_number: str
    organisation_name: str
    person: str | None


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _leaf(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, f"{_P}{name}")
    element.text = text
    return element


def _identifier(parent: etree._Element, kind: str, value: str, prefix: str = "") -> None:
    holder = etree.SubElement(parent, f"{_P}{kind}Identifier")
    _leaf(holder, f"{prefix or kind}IdentifierType", "local")
    _leaf(holder, f"{prefix or kind}IdentifierValue", value)


def _object(file: PackageFile, *, record_pdf: bool) -> etree._Element:
    element = etree.Element(f"{_P}object", nsmap={"premis": PREMIS, "xsi": XSI})
    element.set(f"{{{XSI}}}type", "premis:file")
    _identifier(element, "object", file.path)
    characteristics = etree.SubElement(element, f"{_P}objectCharacteristics")
    fixity = etree.SubElement(characteristics, f"{_P}fixity")
    _leaf(fixity, "messageDigestAlgorithm", "SHA-256")
    _leaf(fixity, "messageDigest", file.sha256)
    _leaf(fixity, "messageDigestOriginator", "Utskick")
    _leaf(characteristics, "size", str(file.size))
    format_ = etree.SubElement(characteristics, f"{_P}format")
    designation = etree.SubElement(format_, f"{_P}formatDesignation")
    if record_pdf:
        name, version, key = RECORD_PDF_FORMAT
        _leaf(designation, "formatName", name)
        _leaf(designation, "formatVersion", version)
        registry = etree.SubElement(format_, f"{_P}formatRegistry")
        _leaf(registry, "formatRegistryName", "PRONOM")
        _leaf(registry, "formatRegistryKey", key)
    else:
        _leaf(designation, "formatName", file.mimetype)
    _leaf(element, "originalName", file.path.rsplit("/", 1)[-1])
    return element


def _event(
    event_id: str,
    kind: str,
    *,
    at: dt.datetime,
    detail: str,
    agents: Sequence[tuple[str, str]],
    objects: Sequence[str],
) -> etree._Element:
    element = etree.Element(f"{_P}event", nsmap={"premis": PREMIS})
    _identifier(element, "event", event_id)
    _leaf(element, "eventType", kind)
    _leaf(element, "eventDateTime", _time(at))
    _leaf(etree.SubElement(element, f"{_P}eventDetailInformation"), "eventDetail", detail)
    outcome = etree.SubElement(element, f"{_P}eventOutcomeInformation")
    _leaf(outcome, "eventOutcome", "success")
    for agent_id, role in agents:
        link = etree.SubElement(element, f"{_P}linkingAgentIdentifier")
        _leaf(link, "linkingAgentIdentifierType", "local")
        _leaf(link, "linkingAgentIdentifierValue", agent_id)
        _leaf(link, "linkingAgentRole", role)
    for path in objects:
        link = etree.SubElement(element, f"{_P}linkingObjectIdentifier")
        _leaf(link, "linkingObjectIdentifierType", "local")
        _leaf(link, "linkingObjectIdentifierValue", path)
    return element


def _agent(agent_id: str, name: str, kind: str, version: str | None = None) -> etree._Element:
    element = etree.Element(f"{_P}agent", nsmap={"premis": PREMIS})
    _identifier(element, "agent", agent_id)
    _leaf(element, "agentName", name)
    _leaf(element, "agentType", kind)
    if version is not None:
        _leaf(element, "agentVersion", version)
    return element


def write_premis(
    path: Path,
    *,
    files: Sequence[PackageFile],
    record_pdfs: frozenset[str],
    agents: PremisAgents,
    created: dt.datetime,
) -> None:
    """Write premis.xml for these files (`record_pdfs`: the paths of the letters' PDFs)."""
    organisation = f"organisation-{agents.organisation_number}"
    acting = [("utskick", "executing program"), (organisation, "authorizer")]
    if agents.person is not None:
        acting.append((f"person-{agents.person}", "implementer"))
    with path.open("wb") as file, etree.xmlfile(file, encoding="utf-8") as writer:
        writer.write_declaration()
        attrib: Any = {"version": "3.0", f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION}
        with writer.element(f"{_P}premis", nsmap={"premis": PREMIS, "xsi": XSI}, attrib=attrib):
            for one in files:
                writer.write(_object(one, record_pdf=one.path in record_pdfs))
            for number, one in enumerate(f for f in files if f.path in record_pdfs):
                detail = (
                    f"Brevet {one.letter_id} som allmän handling återgivet som PDF/A-2b ur "
                    "Utskicks uppgifter när arkivpaketet skapades."
                )
                writer.write(
                    _event(
                        f"creation-{number + 1:06d}",
                        "creation",
                        at=one.created,
                        detail=detail,
                        agents=acting,
                        objects=[one.path],
                    )
                )
            writer.write(
                _event(
                    "fixity-000001",
                    "message digest calculation",
                    at=created,
                    detail="SHA-256 beräknades för varje fil när den skrevs till paketet.",
                    agents=acting[:1],
                    objects=[one.path for one in files],
                )
            )
            writer.write(_agent("utskick", "Utskick", "software", agents.software_version))
            writer.write(_agent(organisation, agents.organisation_name, "organization"))
            if agents.person is not None:
                writer.write(_agent(f"person-{agents.person}", agents.person, "person"))
