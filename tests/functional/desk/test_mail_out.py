"""Replies through a real mail server: STARTTLS when offered, smtps, login, and its refusals."""

import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from utskick.desk.mailin.mail_out import MailOut, MailOutError
from utskick.mm.devca import DevCertificateAuthority, write_certificate, write_pem_bundle
from utskick.reference.runner import free_loopback_ports
from utskick.settings import Settings

# The smtps server below says AUTH without STARTTLS is risky; its TLS is there from the start.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Server:
    """A mail server that wants a login (after STARTTLS) and refuses one recipient."""

    def __init__(self):
        self.received = []

    async def handle_RCPT(self, _server, _session, envelope, address, _options):  # noqa: N802
        if address.startswith("finns-inte@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server, session, envelope):  # noqa: N802
        self.received.append((session.auth_data.login, envelope.mail_from, envelope.rcpt_tos))
        return "250 OK"


def authenticator(_server, _session, _envelope, _mechanism, data):
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"utskick@brev.exempelkommun.se",
        b"hemligt-losenord",
    )
    return AuthResult(success=ok, handled=False, auth_data=data)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mail-out")
    authority = DevCertificateAuthority.create()
    write_pem_bundle(folder / "server.pem", authority.issue_tls_server(["localhost"]))
    write_certificate(folder / "ca.pem", authority.certificate)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem")
    return folder, context


@pytest.fixture(params=["starttls", "smtps"])
def mail_server(request, pki):
    folder, context = pki
    [port] = free_loopback_ports(1)
    handler = Server()
    options = {"authenticator": authenticator, "auth_required": True}
    if request.param == "smtps":
        # aiosmtpd offers AUTH after STARTTLS only, unless told that TLS is there from the start.
        controller = Controller(handler, hostname="localhost", port=port, ssl_context=context,
                                auth_require_tls=False, **options)  # fmt: skip
    else:
        controller = Controller(handler, hostname="localhost", port=port, tls_context=context,
                                require_starttls=True, **options)  # fmt: skip
    controller.start()
    yield (
        handler,
        f"{request.param.replace('starttls', 'smtp')}://utskick%40brev.exempelkommun.se@localhost:{port}",
        folder / "ca.pem",
    )
    controller.stop()


def reply():
    message = EmailMessage()
    message["From"] = "utskick@brev.exempelkommun.se"
    message["To"] = "hans@exempelkommun.se"
    message["Subject"] = "Ditt brev"
    message.set_content("Hej!")
    return message


def mail_out(url, ca, password="hemligt-losenord"):
    settings = Settings(mail_out_url=url, mail_out_password=SecretStr(password), tls_ca_file=ca)
    return MailOut.from_settings(settings)


def test_a_reply_goes_over_tls_with_the_login_from_the_url(mail_server):
    handler, url, ca = mail_server
    mail_out(url, ca).send(reply(), "hans@exempelkommun.se")
    assert handler.received == [
        (b"utskick@brev.exempelkommun.se", "utskick@brev.exempelkommun.se",
         ["hans@exempelkommun.se"])
    ]  # fmt: skip


def test_a_wrong_password_can_be_fixed_so_it_is_tried_again(mail_server):
    _, url, ca = mail_server
    with pytest.raises(MailOutError) as caught:
        mail_out(url, ca, password="fel").send(reply(), "hans@exempelkommun.se")
    assert not caught.value.permanent
    assert "535" in str(caught.value)


def test_an_address_the_server_refuses_is_given_up(mail_server):
    _, url, ca = mail_server
    with pytest.raises(MailOutError) as caught:
        mail_out(url, ca).send(reply(), "finns-inte@exempelkommun.se")
    assert caught.value.permanent


def test_a_certificate_from_an_unknown_ca_is_not_trusted(mail_server):
    _, url, _ = mail_server
    with pytest.raises(MailOutError) as caught:
        mail_out(url, None).send(reply(), "hans@exempelkommun.se")
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", ("127.0.0.1", 2525, False, None)),
        ("smtp://mail.exempelkommun.se", ("mail.exempelkommun.se", 25, False, None)),
        ("smtps://utskick@mail.exempelkommun.se", ("mail.exempelkommun.se", 465, True, "utskick")),
    ],
)
def test_the_url_names_host_port_tls_and_user(url, expected):
    out = MailOut.from_settings(Settings(mail_out_url=url))
    assert (out.host, out.port, out.implicit_tls, out.user) == expected


@pytest.mark.parametrize("url", ["http://mail:25", "smtp://", "smtp://host:99999"])
def test_a_wrong_url_is_refused_in_swedish(url):
    with pytest.raises(ValueError, match="UTSKICK_MAIL_OUT_URL ska se ut som"):
        MailOut.from_settings(Settings(mail_out_url=url))


def test_no_url_means_no_replies():
    assert MailOut.from_settings(Settings()) is None
