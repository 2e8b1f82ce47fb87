"""The population register stand-in over HTTPS with mutual TLS."""

import ssl

import httpx2
import pytest

from utskick.reference.world import EXEMPELKOMMUN


@pytest.fixture(scope="module")
def register(reference, mtls_client):
    client = mtls_client(EXEMPELKOMMUN)
    base = reference.endpoints.population_url.rstrip("/")

    def get(path):
        return client.get(base + path)

    def post(path, body):
        return client.post(base + path, json=body)

    return get, post


class TestLookupOne:
    def test_a_person_has_name_and_postal_address(self, register):
        get, _ = register
        answer = get("/v1/records/196611090827")
        assert answer.status_code == 200
        record = answer.json()
        assert record["name"] == "David Dahl"
        assert record["address"] == {
            "care_of": None,
            "street": "Dalvägen 7",
            "postal_code": "123 48",
            "city": "Exempelstad",
        }
        assert record["protected"] is False

    def test_a_protected_identity_gives_no_name_and_no_address(self, register):
        get, _ = register
        record = get("/v1/records/198512304166").json()
        assert record["found"] is True
        assert record["protected"] is True
        assert record["name"] is None
        assert record["address"] is None

    def test_a_deceased_person_is_marked_with_the_date(self, register):
        get, _ = register
        assert get("/v1/records/195807183529").json()["deceased_on"] == "2025-03-14"

    def test_an_organisation_is_found_by_its_ten_digit_number(self, register):
        get, _ = register
        record = get("/v1/records/5566778899").json()
        assert record["kind"] == "organisation"
        assert record["id"] == "165566778899"
        assert record["name"] == "Utan Brevlåda AB"
        assert record["address"]["city"] == "Exempelstad"

    def test_an_unknown_person_is_404_with_a_reason(self, register):
        get, _ = register
        answer = get("/v1/records/194001019803")
        assert answer.status_code == 404
        assert "finns inte" in answer.json()["detail"]

    def test_a_bad_check_digit_is_400_and_says_so(self, register):
        get, _ = register
        answer = get("/v1/records/191212121213")
        assert answer.status_code == 400
        assert "kontrollsiffra" in answer.json()["detail"]


class TestLookupMany:
    def test_answers_in_the_order_asked_with_unknown_ids_not_found(self, register):
        _, post = register
        answer = post("/v1/lookup", {"ids": ["191212121212", "194001019803", "165566778899"]})
        records = answer.json()["records"]
        assert [r["id"] for r in records] == ["191212121212", "194001019803", "165566778899"]
        assert [r["found"] for r in records] == [True, False, True]

    def test_more_than_a_thousand_ids_are_refused(self, register):
        _, post = register
        answer = post("/v1/lookup", {"ids": ["191212121212"] * 1001})
        assert answer.status_code == 422


class TestCallers:
    def test_a_certificate_not_registered_in_far_is_refused(self, reference, tmp_path):
        from utskick.mm.devca import write_pem_bundle

        stranger = reference.pki.authority.issue_organisation("5560360793", "Okänd AB")
        bundle = tmp_path / "stranger.pem"
        write_pem_bundle(bundle, stranger)
        context = ssl.create_default_context(cafile=str(reference.pki.ca_certificate))
        context.load_cert_chain(str(bundle))
        with httpx2.Client(verify=context) as client:
            answer = client.get(reference.endpoints.population_url + "v1/records/191212121212")
        assert answer.status_code == 403
        assert "registrerad i FaR" in answer.json()["detail"]

    def test_no_client_certificate_is_refused_in_the_handshake(self, reference, mtls_client):
        client = mtls_client(certificate=False)
        with pytest.raises((httpx2.ConnectError, httpx2.ReadError, httpx2.RemoteProtocolError)):
            client.get(reference.endpoints.population_url + "v1/records/191212121212")
