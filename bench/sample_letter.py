"""Render a sample paper letter and its first page as a PNG, as the print service prints it.

The letter is a two-page building permit decision from Exempelkommun to David Dahl, the demo
world's citizen without a digital mailbox, laid out for the default envelope window
(`PrintVendor()`). The script also checks, from the PDF's text coordinates, that every
address line lies inside that window, and says so.

Run from the repository root (poppler-utils must be installed for `pdftoppm`):

    .venv/bin/python bench/sample_letter.py
    .venv/bin/python bench/sample_letter.py --png /tmp/brev.png --pdf /tmp/brev.pdf
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pypdf import PdfReader

from utskick.printing.handover import window_of
from utskick.printing.render import LetterRenderer, PrintLetter
from utskick.settings import PrintVendor

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PNG = ROOT / "docs" / "screenshots" / "print-sample-letter.png"
RESOLUTION_DPI = 100

ADDRESS = ("David Dahl", "Dalvägen 7", "123 48 Exempelstad")

BODY = """\
Bygg- och miljönämnden beviljar bygglov för nybyggnad av enbostadshus med garage på \
fastigheten Exempelstad Eken 4, enligt ansökan som kom in den 2 oktober 2026.

Beslutet är fattat med stöd av 9 kap. 31 § plan- och bygglagen (2010:900). Åtgärden \
stämmer överens med detaljplanen för området och uppfyller kraven på utformning, \
tillgänglighet och placering.

Villkor och upplysningar

Byggnadsarbetena får inte påbörjas förrän nämnden har gett startbesked. Ett tekniskt \
samråd ska hållas innan startbesked kan ges; kontakta handläggaren för att boka en tid.

Kontrollansvarig för projektet är Karin Kvist (certifierad enligt PBL, behörighet N). \
Kontrollplanen ska lämnas in senast vid det tekniska samrådet.

Bygglovet upphör att gälla om åtgärden inte har påbörjats inom två år och avslutats \
inom fem år från den dag då beslutet vann laga kraft.

Avgift

Avgiften för bygglovet är 24 380 kronor enligt kommunens taxa. Faktura skickas separat.

Beslutet kungörs i Post- och Inrikes Tidningar. Det vinner laga kraft fyra veckor efter \
kungörelsen om ingen överklagar det.

Hur man överklagar

Du kan överklaga beslutet hos länsstyrelsen. Skriv till Bygg- och miljönämnden, \
Exempelkommun, 123 80 Exempelstad, och tala om vilket beslut du överklagar och hur du vill \
att det ska ändras. Överklagandet ska ha kommit in inom tre veckor från den dag du fick del \
av beslutet. Nämnden prövar först om beslutet ska ändras och skickar sedan handlingarna \
vidare till länsstyrelsen.

Om du har frågor om beslutet är du välkommen att ringa handläggaren, telefon 0123-456 78, \
vardagar klockan 9–12.

Med vänlig hälsning

Maria Byggare
Bygglovshandläggare
Bygg- och miljöförvaltningen
"""


def sample_letter() -> PrintLetter:
    """The sample: a building permit decision long enough to take two pages."""
    created = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
    return PrintLetter(
        letter_id="exempel-bygglov-1",
        sender_name="Exempelkommun",
        department="Bygg- och miljöförvaltningen",
        letter_date=created.date(),
        created_at=created,
        subject="Beslut om bygglov för nybyggnad av enbostadshus, Eken 4",
        # Repeated once so the letter runs onto a second page and the numbering shows.
        body=BODY + "\n" + "Bilaga till beslutet: sammanfattning av villkoren\n\n" + BODY,
        address_lines=ADDRESS,
        case_number="BMN 2026-000123",
        reference="Eken 4",
        footer_lines=(
            "Exempelkommun, Bygg- och miljöförvaltningen, 123 80 Exempelstad",
            "Telefon 0123-456 00, bygglov@exempelkommun.test, www.exempelkommun.test",
        ),
    )


def address_outside_window(pdf: bytes, window: tuple[float, float, float, float]) -> list[str]:
    """The address lines whose text does not start inside the window (empty: all inside)."""
    x0, y0, x1, y1 = window
    placed: dict[str, tuple[float, float]] = {}

    def visit(text: str, _cm: object, tm: list[float], _font: object, _size: object) -> None:
        if text.strip() in ADDRESS:
            placed[text.strip()] = (tm[4], tm[5])

    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    return [
        line
        for line in ADDRESS
        if line not in placed or not (x0 <= placed[line][0] <= x1 and y0 <= placed[line][1] <= y1)
    ]


def main() -> int:
    """Render the sample, write the PNG of page 1 (and the PDF when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG, help="PNG of page 1 to write")
    parser.add_argument("--pdf", type=Path, help="also keep the letter's PDF here")
    args = parser.parse_args()
    if shutil.which("pdftoppm") is None:
        print("pdftoppm saknas; installera poppler-utils", file=sys.stderr)
        return 2

    vendor = PrintVendor()
    renderer = LetterRenderer(window_of(vendor))
    rendered = renderer.render(sample_letter())
    if args.pdf:
        args.pdf.write_bytes(rendered.pdf)
    with tempfile.TemporaryDirectory() as work:
        pdf_path = Path(work) / "brev.pdf"
        pdf_path.write_bytes(rendered.pdf)
        stem = Path(work) / "sida"
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(RESOLUTION_DPI), "-f", "1", "-l", "1", "-singlefile",
             str(pdf_path), str(stem)],
            check=True,
        )  # fmt: skip
        args.png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stem.with_suffix(".png"), args.png)

    outside = address_outside_window(rendered.pdf, renderer.window.rectangle_points())
    window = (
        f"{vendor.window_left_mm:g} mm från vänster, {vendor.window_top_mm:g} mm från överkant, "
        f"{vendor.window_width_mm:g} × {vendor.window_height_mm:g} mm"
    )
    print(f"{args.png}: sida 1 av {rendered.pages}, {RESOLUTION_DPI} dpi")
    print(f"kuvertfönster: {window}")
    if outside:
        print(f"adressrader utanför fönstret: {', '.join(outside)}", file=sys.stderr)
        return 1
    print("alla adressrader ligger i fönstret")
    return 0


if __name__ == "__main__":
    sys.exit(main())
