"""isReachable throughput over HTTPS with mutual TLS, beside raw RSA-2048 verification.

The reference FaR runs in this process on a loopback port (a temporary data folder, the demo
world plus 1,000 recipients in a mix of states). One keep-alive client, presenting
Exempelkommun's certificate, asks about all 1,000 in every call and reads each answer with
the hardened parser, as the connector does. Client and server share this process and one
core's worth of Python, so the figure is a floor for a FaR on its own machine. The raw
RSA-2048 verify rate of the same run puts the number on the machine's scale.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from utskick.entrypoints.benchmarks.cleanup import benchmark_run, temporary_folder
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.entrypoints.benchmarks.signing import operations_per_second
from utskick.mm.soap import SOAP_HEADERS, is_reachable_request, parse_is_reachable_response
from utskick.reference.context import ReferenceContext, build_context
from utskick.reference.far.client import mutual_tls_context
from utskick.reference.far.service import create_far_app
from utskick.reference.settings import ReferenceSettings
from utskick.reference.store import FarAccount, FarSenderOptOut
from utskick.reference.tls import ServerGroup, server_config
from utskick.reference.world import EXEMPELKOMMUN, NORD, SYD

RECIPIENTS_PER_CALL = 1000
_ROUNDS = 3
_LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _personnummer(index: int) -> str:
    """A valid personnummer per index: born in the 1950s, serial from 100."""
    year, month, day = 50 + index // 336 % 10, 1 + index // 28 % 12, 1 + index % 28
    nine = f"{year:02d}{month:02d}{day:02d}{100 + index // 3360:03d}"
    total = 0
    for position, char in enumerate(nine):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product  # noqa: PLR2004 (Luhn)
    return f"19{nine}{(10 - total % 10) % 10}"


def _seed_recipients(context: ReferenceContext, count: int) -> list[str]:
    """Give `count` recipients a mix of states; return their ids.

    Of every ten: six have an account (Syd and Nord alternately), one is pending, one has
    opted out of Exempelkommun, two have none.
    """
    ids = [_personnummer(index) for index in range(count)]
    with context.sessions.begin() as session:
        for index, recipient_id in enumerate(ids):
            kind = index % 10
            if kind >= 8:  # noqa: PLR2004 (two in ten are not registered)
                continue
            operator = SYD if index % 2 == 0 else NORD
            session.add(
                FarAccount(
                    recipient_id=recipient_id,
                    operator_number=operator,
                    account_type="Secure",
                    pending=kind == 6,  # noqa: PLR2004
                )
            )
            if kind == 7:  # noqa: PLR2004
                session.add(FarSenderOptOut(recipient_id=recipient_id, sender_number=EXEMPELKOMMUN))
    return ids


def _raw_verify() -> Callable[[], None]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = b"\x00" * 32
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    public_key = key.public_key()

    def verify() -> None:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())

    return verify


def _far_server(context: ReferenceContext) -> ServerGroup:
    settings = context.settings
    app = create_far_app(context)
    return ServerGroup([server_config(app, _LOOPBACK, settings.far_port, context.pki.server_tls)])


def _measure(context: ReferenceContext, share: float, progress: Progress) -> tuple[float, float]:
    """The best calls/s and raw verifications/s over interleaved rounds of `share` seconds."""
    recipients = _seed_recipients(context, RECIPIENTS_PER_CALL)
    request = is_reachable_request("16" + EXEMPELKOMMUN, recipients)
    verify = _raw_verify()
    tls = mutual_tls_context(context, EXEMPELKOMMUN)
    calls = raw = 0.0
    with _far_server(context).running(), httpx2.Client(verify=tls, timeout=60) as client:

        def ask() -> None:
            response = client.post(context.endpoints.far_url, content=request, headers=SOAP_HEADERS)
            answers = parse_is_reachable_response(response.content)
            if len(answers) != RECIPIENTS_PER_CALL:
                raise RuntimeError(f"FaR svarade för {len(answers)} mottagare, inte 1000")

        # Interleaved rounds, best of each: a neighbour's load on a shared machine then lowers
        # one round, not one side of the comparison.
        progress.phase("mäter isReachable och RSA-verifiering", 2 * _ROUNDS, "delmätningar")
        for _ in range(_ROUNDS):
            calls = max(calls, operations_per_second(ask, share, warmups=1))
            progress.advance()
            raw = max(raw, operations_per_second(verify, share, warmups=1))
            progress.advance()
    return calls, raw


def run_is_reachable_benchmark(seconds: float = 3.0) -> dict[str, float]:
    """Measure isReachable with 1,000 ids per call over HTTPS + mutual TLS.

    Returns:
        `recipients_per_s`, `calls_per_s` and `raw_rsa_verify_per_s` (RSA-2048 PKCS#1 v1.5
        SHA-256, one core), with `recipients_per_call` and `seconds_per_measurement`.
    """
    share = seconds / _ROUNDS
    with (
        benchmark_run("bench far") as progress,
        temporary_folder(progress, "utskick-bench-far-") as home,
    ):
        progress.phase(f"förbereder FaR med {RECIPIENTS_PER_CALL} mottagare")
        settings = ReferenceSettings(
            home=home,
            database_url=None,  # its own SQLite file, whatever the environment says
            host=_LOOPBACK,
            far_port=_free_port(),
            run_smtp_sink=False,
        )
        context = build_context(settings)
        try:
            calls, raw = _measure(context, share, progress)
        finally:
            context.engine.dispose()
    return {
        "recipients_per_s": round(calls * RECIPIENTS_PER_CALL, 1),
        "calls_per_s": round(calls, 2),
        "raw_rsa_verify_per_s": round(raw, 1),
        "recipients_per_call": float(RECIPIENTS_PER_CALL),
        "seconds_per_measurement": share,
    }
