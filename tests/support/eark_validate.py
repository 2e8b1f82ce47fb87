"""Validate E-ARK packages with eark-validator, offline: run with `.venv-eark/bin/python`.

eark-validator 1.1.3 pins lxml 5.1, which Utskick's lxml 6 excludes, so it lives in a venv
of its own (`make eark-validator`) and the tests run this script in it as a subprocess.

    .venv-eark/bin/python tests/support/eark_validate.py --vocabularies DIR PACKAGE...

At import, eark-validator downloads the four CSIP vocabularies from earkcsip.dilcis.eu. There
is no internet here, so `urllib.request.urlopen` is replaced, for that address only, before
eark_validator is imported: it reads the copies in DIR (`shared/contracts/e-ark/schema/`).

For each package the script prints one JSON object per line, and exits 1 if any is invalid:
- the validator's own verdict (`PackageValidator`: folder structure, METS schema, the CSIP
  and SIP Schematron rules), every message of severity Error counted;
- its manifest check of the root METS and the representation METS against the files
  (`Manifests.validate_manifest`: missing files, sizes), plus each file's checksum computed
  with its `Checksummer` and compared with the METS's: 1.1.3's `validate_manifest` drops the
  checksum differences it finds (it keeps them only when there are none), so without this a
  file changed but not resized would pass;
- the representation METS validated against its METS schema as well (`MetsValidator`).

One rule of 1.1.3 is set aside, and reported as `ignored`: its SIP rule SIP14 wants the
note of every CREATOR agent to carry an unqualified `NOTETYPE="IDENTIFICATIONCODE"`, while
its CSIP rules CSIP12-16 want the CREATOR agent to be the software, with exactly one note
carrying `csip:NOTETYPE="SOFTWARE VERSION"`, and its METS schema refuses an unqualified
NOTETYPE. No package satisfies all three, so SIP14 is ignored exactly where it fails on a
software agent's version note that CSIP16 requires; anywhere else it counts.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.request
from pathlib import Path

VOCABULARY_PREFIX = "https://earkcsip.dilcis.eu/schema/"


def serve_vocabularies(folder: Path) -> None:
    """Answer the validator's vocabulary downloads from local copies."""
    download = urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        address = getattr(url, "full_url", url)
        if isinstance(address, str) and address.startswith(VOCABULARY_PREFIX):
            name = address.removeprefix(VOCABULARY_PREFIX)
            return io.BytesIO((folder / name).read_bytes())
        return download(url, *args, **kwargs)

    urllib.request.urlopen = urlopen


def _errors(messages) -> list[str]:
    return [
        f"{message.rule_id}: {message.message} ({message.location})"
        for message in messages or []
        if str(getattr(message.severity, "value", message.severity)).lower() == "error"
    ]


def _manifest_problems(root: Path, mets: Path) -> list[str]:
    from eark_validator.infopacks.manifest import Checksummer, Manifests

    manifest = Manifests.from_mets_file(mets)
    _ok, problems = Manifests.validate_manifest(manifest, alt_root=mets.parent)
    for entry in manifest.entries:
        path = mets.parent / entry.path
        if not path.is_file():
            continue
        for expected in entry.checksums:
            found = Checksummer(expected.algorithm).hash_file(path)
            if found.value != expected.value:
                problems.append(
                    f"{path.relative_to(root)}: {expected.algorithm.value} {found.value} "
                    f"i stället för {expected.value} som METS anger"
                )
    return [f"MANIFEST: {problem}" for problem in problems]


CSIP = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
METS = "http://www.loc.gov/METS/"


def _only_software_version_notes(mets: Path) -> bool:
    """Whether every note of a CREATOR agent is a software agent's version note (CSIP16)."""
    from lxml import etree

    tree = etree.parse(str(mets))
    agents = tree.findall(f"{{{METS}}}metsHdr/{{{METS}}}agent[@ROLE='CREATOR']")
    for agent in agents:
        software = agent.get("TYPE") == "OTHER" and agent.get("OTHERTYPE") == "SOFTWARE"
        for note in agent.findall(f"{{{METS}}}note"):
            if not software or note.get(f"{{{CSIP}}}NOTETYPE") != "SOFTWARE VERSION":
                return False
    return True


def validate(package: Path) -> dict[str, object]:
    """The validator's verdict on one package, with the manifest checks added."""
    from eark_validator.mets import MetsValidator
    from eark_validator.packages import PackageValidator

    report = PackageValidator(package).validation_report
    errors = _errors(report.structure.messages)
    if report.metadata is not None:
        errors += _errors(report.metadata.schema_results.messages)
        errors += _errors(report.metadata.schematron_results.messages)
    warnings = [
        message.rule_id
        for message in (
            list(report.structure.messages)
            + (list(report.metadata.schematron_results.messages) if report.metadata else [])
        )
        if str(getattr(message.severity, "value", message.severity)).lower() == "warn"
    ]
    root_mets = package / "METS.xml"
    ignored = []
    if root_mets.is_file():
        if _only_software_version_notes(root_mets):
            ignored = [error for error in errors if error.startswith("SIP14:")]
            errors = [error for error in errors if not error.startswith("SIP14:")]
        errors += _manifest_problems(package, root_mets)
    for representation in sorted((package / "representations").glob("*/METS.xml")):
        checker = MetsValidator(str(package))
        checker.validate_mets(str(representation.relative_to(package)))
        errors += [
            f"{representation.relative_to(package)}: {e}"
            for e in _errors(checker.validation_errors)
        ]
        errors += _manifest_problems(package, representation)
    return {
        "package": str(package),
        "structure": report.structure.status.value,
        "valid": not errors,
        "errors": errors,
        "ignored": ignored,
        "warnings": warnings,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocabularies", type=Path, required=True)
    parser.add_argument("packages", type=Path, nargs="+")
    arguments = parser.parse_args()
    serve_vocabularies(arguments.vocabularies)
    verdicts = [validate(package) for package in arguments.packages]
    for verdict in verdicts:
        print(json.dumps(verdict, ensure_ascii=False))  # noqa: T201 (the answer to the tests)
    return 0 if all(verdict["valid"] for verdict in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
