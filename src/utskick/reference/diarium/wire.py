"""The registration call as the diarium stand-in reads it: where, and in which headers.

The stand-in's own reading of the contract in docs/records.md; the connector writes the
same call from its own code (`utskick.records.registration`), so a test between them tests
the contract, not a shared shortcut.
"""

from __future__ import annotations

REGISTRATION_PATH = "/v1/registrations"
ID_HEADER = "Utskick-Id"
TIMESTAMP_HEADER = "Utskick-Timestamp"
SIGNATURE_HEADER = "Utskick-Signature"
# A call whose timestamp is further than this from the stand-in's clock is refused.
MAX_AGE_SECONDS = 300
