"""The PostgreSQL tools get the database URL without its password (it would show in `ps`)."""

from utskick.db.backup_postgres import PostgresDatabase


def test_the_password_goes_aside_and_not_into_the_command_line_uri():
    database = PostgresDatabase.from_url(
        "postgresql+psycopg://utskick:hemligt-lösen@db.kommun.se:5432/utskick"
        "?options=-csearch_path%3Dutskick"
    )

    assert "hemligt" not in database.uri
    assert database.uri.startswith("postgresql://utskick@db.kommun.se:5432/utskick")
    assert database.password == "hemligt-lösen"
    assert database.environment()["PGPASSWORD"] == "hemligt-lösen"


def test_a_url_without_a_password_gives_none():
    database = PostgresDatabase.from_url("postgresql://postgres@127.0.0.1:5432/test")

    assert database.password is None
    assert database.uri == "postgresql://postgres@127.0.0.1:5432/test"
