from fastapi.testclient import TestClient

from utskick.entrypoints.app import create_app
from utskick.settings import Settings


def test_start_page_and_health_on_a_migrated_database(migrated_engine, tmp_path):
    client = TestClient(create_app(Settings(home=tmp_path), migrated_engine))
    page = client.get("/")
    assert page.status_code == 200
    assert "Tjänsten är igång" in page.text
    assert 'lang="sv"' in page.text
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_health_says_what_to_do_when_the_database_is_not_migrated(empty_engine, tmp_path):
    client = TestClient(create_app(Settings(home=tmp_path), empty_engine))
    health = client.get("/health")
    assert health.status_code == 503
    assert "kör utskick db upgrade" in health.json()["database"]["detail"]
