"""Print files: a PDF that a business system printed, holding one letter or many.

Systems that cannot call the API print their letters to a PDF (or write one). A source
(`utskick.intake.sources`) says how the file's recipients are found, and so how it is split:

- `document`: the file opened and checked like any attachment; one letter's pages as a PDF.
- `recipients`: the readers for a file that is one letter (form field, metadata, file name).
- `anchor`: the text-anchor reader, which starts a letter on every page with the label.
- `control`: the control file (CSV or JSON) that gives each letter's pages and recipient.
- `plan`: the letters of a file by its source's rule, before anything is stored.
- `service`: `take_print_file`, which records a batch and accepts the letters chunk by chunk.
- `receipt`: what became of each letter.

The API (`intake.printfile_routes`), `utskick printfile submit` and the watched folders all
take files through `take_print_file`.
"""

from utskick.intake.printfile.common import (
    MAX_PRINT_FILE_BYTES,
    PrintFileRefusedError,
)
from utskick.intake.printfile.control import control_file_beside
from utskick.intake.printfile.document import pages_pdf
from utskick.intake.printfile.receipt import PrintFileLetter, PrintFileReceipt
from utskick.intake.printfile.service import (
    print_file_key,
    system_for_source,
    take_print_file,
)

__all__ = [
    "MAX_PRINT_FILE_BYTES",
    "PrintFileLetter",
    "PrintFileReceipt",
    "PrintFileRefusedError",
    "control_file_beside",
    "pages_pdf",
    "print_file_key",
    "system_for_source",
    "take_print_file",
]
