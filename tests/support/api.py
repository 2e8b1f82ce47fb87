"""Helpers of the REST API tests: the demo senders, a small PDF and a fake precheck."""

import base64
import datetime as dt

from utskick.switch.precheck import Decision, FarUnavailableError

EXEMPELKOMMUN = "2021004748"
GRANNKOMMUN = "2021009903"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PDF_BASE64 = base64.b64encode(PDF).decode()


class FakePrecheck:
    """Answers like the switch: 191212121212 is digital at Kivra, everyone else paper."""

    def __init__(self):
        self.far_down = False
        self.asked = []

    def check(self, sender_number, recipient_ids, *, policy="digital-or-paper"):
        self.asked.append((sender_number, list(recipient_ids), policy))
        if self.far_down:
            raise FarUnavailableError("anslutningen till FaR bröts")
        return [
            Decision(
                rid, "digital", "reachable", "5566778899", "Kivra", "https://kivra.example/svc"
            )
            if rid == "191212121212"
            else Decision(rid, "paper", "not_registered")
            for rid in recipient_ids
        ]


def letter_json(**changes):
    body = {
        "sender": "202100-4748",
        "recipient": "19121212-1212",
        "subject": "Beslut om bygglov",
        "body": "Hej! Här kommer beslutet.",
        "protection_class": 2,
    }
    body.update(changes)
    return body
