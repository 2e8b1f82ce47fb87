"""The METS files of an archive package: the package's root METS and its representation's.

Both follow the E-ARK CSIP 2.1 with the SIP profile (`@PROFILE` E-ARK-SIP.xml): the root
METS names the package (`@OBJID` is its folder's name), its content category (`@TYPE`
"Textual works – Digital") and content information type (`OTHER`: there is no E-ARK content
information type for letters, so `csip:OTHERCONTENTINFORMATIONTYPE` names ours), a header with
the creating software and the archival creator (the organisation, with its number), the
descriptive and preservation metadata it references (with size, creation time and SHA-256),
the documentation, schemas and the representation's METS in the file section, and the
structural map `CSIP` with the divisions Metadata, Documentation, Schemas and Representations.

The representation's METS lists every data file (the letters' record PDFs and their
original attachments). Every `fileGrp` carries `csip:CONTENTINFORMATIONTYPE="OTHER"`: the
CSIP allows it on any group and eark-validator 1.1.3 requires it on every one (its rule
CSIP63 tests the attribute's absence in a way that is never true).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from utskick.records.archive_files import PackageFile

METS = "http://www.loc.gov/METS/"
CSIP = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"mets": METS, "csip": CSIP, "xlink": XLINK, "xsi": XSI}
SCHEMA_LOCATION = (
    f"{METS} schemas/mets.xsd {XLINK} schemas/xlink.xsd {CSIP} schemas/DILCISExtensionMETS.xsd"
)
SIP_PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
CONTENT_CATEGORY = "Textual works – Digital"
CONTENT_INFORMATION_TYPE = "OTHER"
OTHER_CONTENT_INFORMATION_TYPE = "Utskick brev som allmänna handlingar, arkiv.xsd version 1"
REPRESENTATION = "rep1"
SOFTWARE = "Utskick"

_M = f"{{{METS}}}"
_C = f"{{{CSIP}}}"
_X = f"{{{XLINK}}}"


def xml_time(moment: dt.datetime) -> str:
    """xs:dateTime in UTC with a "Z"."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class MetsHeading:
    """Who made the package, for whom, and when."""

    objid: str
    label: str
    organisation_number: str
    organisation_name: str
    created: dt.datetime
    software_version: str


def _root(heading: MetsHeading, objid: str) -> etree._Element:
    root = etree.Element(
        f"{_M}mets",
        nsmap=NSMAP,
        attrib={
            "OBJID": objid,
            "LABEL": heading.label,
            "TYPE": CONTENT_CATEGORY,
            f"{_C}CONTENTINFORMATIONTYPE": CONTENT_INFORMATION_TYPE,
            f"{_C}OTHERCONTENTINFORMATIONTYPE": OTHER_CONTENT_INFORMATION_TYPE,
            "PROFILE": SIP_PROFILE,
            f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION,
        },
    )
    header = etree.SubElement(
        root,
        f"{_M}metsHdr",
        attrib={
            "CREATEDATE": xml_time(heading.created),
            "LASTMODDATE": xml_time(heading.created),
            "RECORDSTATUS": "NEW",
            f"{_C}OAISPACKAGETYPE": "SIP",
        },
    )
    software = etree.SubElement(
        header,
        f"{_M}agent",
        attrib={"ROLE": "CREATOR", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"},
    )
    etree.SubElement(software, f"{_M}name").text = SOFTWARE
    etree.SubElement(
        software, f"{_M}note", attrib={f"{_C}NOTETYPE": "SOFTWARE VERSION"}
    ).text = heading.software_version
    creator = etree.SubElement(
        header, f"{_M}agent", attrib={"ROLE": "ARCHIVIST", "TYPE": "ORGANIZATION"}
    )
    etree.SubElement(creator, f"{_M}name").text = heading.organisation_name
    etree.SubElement(
        creator, f"{_M}note", attrib={f"{_C}NOTETYPE": "IDENTIFICATIONCODE"}
    ).text = heading.organisation_number
    return root


def _md_ref(parent: etree._Element, file: PackageFile, mdtype: str, **extra: str) -> None:
    etree.SubElement(
        parent,
        f"{_M}mdRef",
        attrib={
            "LOCTYPE": "URL",
            f"{_X}type": "simple",
            f"{_X}href": file.path,
            "MDTYPE": mdtype,
            **extra,
            "MIMETYPE": file.mimetype,
            "SIZE": str(file.size),
            "CREATED": xml_time(file.created),
            "CHECKSUM": file.sha256,
            "CHECKSUMTYPE": "SHA-256",
        },
    )


def _file_group(
    parent: etree._Element, group_id: str, use: str, files: Sequence[PackageFile], folder: str
) -> None:
    group = etree.SubElement(
        parent,
        f"{_M}fileGrp",
        attrib={
            "ID": group_id,
            "USE": use,
            f"{_C}CONTENTINFORMATIONTYPE": CONTENT_INFORMATION_TYPE,
            f"{_C}OTHERCONTENTINFORMATIONTYPE": OTHER_CONTENT_INFORMATION_TYPE,
        },
    )
    for number, file in enumerate(files, start=1):
        element = etree.SubElement(
            group,
            f"{_M}file",
            attrib={
                "ID": f"{group_id}-{number:06d}",
                "MIMETYPE": file.mimetype,
                "SIZE": str(file.size),
                "CREATED": xml_time(file.created),
                "CHECKSUM": file.sha256,
                "CHECKSUMTYPE": "SHA-256",
            },
        )
        etree.SubElement(
            element,
            f"{_M}FLocat",
            attrib={
                "LOCTYPE": "URL",
                f"{_X}type": "simple",
                f"{_X}href": file.relative_to(folder) if folder else file.path,
            },
        )


def _div(parent: etree._Element, div_id: str, label: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, f"{_M}div", attrib={"ID": div_id, "LABEL": label, **attrib})


def root_mets(
    heading: MetsHeading,
    *,
    descriptive: PackageFile,
    preservation: PackageFile,
    documentation: Sequence[PackageFile],
    schemas: Sequence[PackageFile],
    representation_mets: PackageFile,
) -> bytes:
    """The package's root METS.xml."""
    root = _root(heading, heading.objid)
    dmd = etree.SubElement(
        root,
        f"{_M}dmdSec",
        attrib={"ID": "dmd-arkiv", "CREATED": xml_time(descriptive.created), "STATUS": "CURRENT"},
    )
    _md_ref(dmd, descriptive, "OTHER", OTHERMDTYPE="UTSKICK-ARKIV")
    amd = etree.SubElement(root, f"{_M}amdSec", attrib={"ID": "amd"})
    digiprov = etree.SubElement(
        amd,
        f"{_M}digiprovMD",
        attrib={"ID": "digiprov-premis", "CREATED": xml_time(preservation.created)},
    )
    digiprov.set("STATUS", "CURRENT")
    _md_ref(digiprov, preservation, "PREMIS")
    files = etree.SubElement(root, f"{_M}fileSec", attrib={"ID": "filesec"})
    group_rep = f"grp-{REPRESENTATION}"
    _file_group(files, "grp-documentation", "Documentation", documentation, "")
    _file_group(files, "grp-schemas", "Schemas", schemas, "")
    _file_group(files, group_rep, f"Representations/{REPRESENTATION}", [representation_mets], "")
    structure = etree.SubElement(
        root,
        f"{_M}structMap",
        attrib={"ID": "structmap-csip", "TYPE": "PHYSICAL", "LABEL": "CSIP"},
    )
    package = _div(structure, "div-package", heading.objid)
    _div(package, "div-metadata", "Metadata", DMDID="dmd-arkiv", ADMID="digiprov-premis")
    for name, group in (("Documentation", "grp-documentation"), ("Schemas", "grp-schemas")):
        division = _div(package, f"div-{name.lower()}", name)
        etree.SubElement(division, f"{_M}fptr", attrib={"FILEID": group})
    representations = _div(package, "div-representations", "Representations")
    etree.SubElement(representations, f"{_M}fptr", attrib={"FILEID": group_rep})
    one = _div(representations, f"div-{REPRESENTATION}", f"Representations/{REPRESENTATION}")
    etree.SubElement(
        one,
        f"{_M}mptr",
        attrib={
            "LOCTYPE": "URL",
            f"{_X}type": "simple",
            f"{_X}href": representation_mets.path,
            f"{_X}title": group_rep,
        },
    )
    return _serialised(root)


def representation_mets(heading: MetsHeading, data: Sequence[PackageFile]) -> bytes:
    """The representation's METS.xml: every data file with its size and SHA-256."""
    root = _root(heading, REPRESENTATION)
    files = etree.SubElement(root, f"{_M}fileSec", attrib={"ID": "filesec"})
    _file_group(files, "grp-data", "Data", data, f"representations/{REPRESENTATION}")
    structure = etree.SubElement(
        root,
        f"{_M}structMap",
        attrib={"ID": "structmap-csip", "TYPE": "PHYSICAL", "LABEL": "CSIP"},
    )
    representation = _div(structure, "div-representation", REPRESENTATION)
    division = _div(representation, "div-data", "Data")
    etree.SubElement(division, f"{_M}fptr", attrib={"FILEID": "grp-data"})
    return _serialised(root)


def _serialised(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def schema_files() -> list[Path]:
    """The schemas every package carries in `schemas/`."""
    folder = Path(__file__).with_name("schema")
    return [
        folder / "e-ark" / "mets.xsd",
        folder / "e-ark" / "xlink.xsd",
        folder / "e-ark" / "DILCISExtensionMETS.xsd",
        folder / "arkiv.xsd",
    ]
