"""The settings every process reads: a bad value is refused with a Swedish reason naming it."""

import pytest
from pydantic import ValidationError

from support.world import SYD
from utskick.settings import PrintVendor, Settings, load_settings, operator_wire_form_key


class TestBadSettingsAreExplainedInSwedish:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ({SYD: "prefix"}, "trådformen 'prefix' för 5569990012 finns inte; välj \"prefixed\""),
            ({SYD: "Default"}, "trådformen 'Default'"),
            ({"Brevlåda Syd": "default"}, "'Brevlåda Syd' är varken en brevlådeoperatörs"),
            ({"55699900": "default"}, "organisationsnummer \\(t.ex. 556999-0012\\)"),
            ("inte json", "UTSKICK_OPERATOR_WIRE_FORMS är inte giltig JSON"),
            ('["5569990012"]', "ska vara ett JSON-objekt"),
        ],
    )
    def test_a_bad_value_names_what_is_wrong(self, value, reason):
        with pytest.raises(ValidationError, match=reason):
            Settings(operator_wire_forms=value)

    def test_a_bad_environment_value_stops_the_settings_from_loading(self, monkeypatch):
        monkeypatch.setenv("UTSKICK_OPERATOR_WIRE_FORMS", '{"5569990012": "jaxb"}')
        with pytest.raises(ValidationError, match="trådformen 'jaxb'"):
            Settings()


class TestOperatorWireForms:
    def test_the_setting_is_read_from_the_environment_as_json(self, monkeypatch):
        monkeypatch.setenv("UTSKICK_OPERATOR_WIRE_FORMS", '{"556999-0012": "default"}')
        assert Settings().operator_wire_forms == {SYD: "default"}

    def test_an_empty_environment_value_sets_no_form(self, monkeypatch):
        monkeypatch.setenv("UTSKICK_OPERATOR_WIRE_FORMS", " ")
        assert Settings().operator_wire_forms == {}

    @pytest.mark.parametrize(
        ("key", "looked_up_as"),
        [
            (" 556999-0012 ", SYD),
            ("165569990012", SYD),
            ("https://syd.example/service/v3/", "https://syd.example/service/v3"),
            ("http://syd.example/v3//", "http://syd.example/v3"),
        ],
    )
    def test_keys_are_kept_as_the_relay_looks_them_up(self, key, looked_up_as):
        assert operator_wire_form_key(key) == looked_up_as
        assert Settings(operator_wire_forms={key: "default"}).operator_wire_forms == {
            looked_up_as: "default"
        }


class TestWhereThingsAre:
    def test_without_a_database_url_the_database_is_a_file_in_the_home(self, tmp_path):
        settings = Settings(home=tmp_path)
        assert settings.resolved_database_url() == f"sqlite:///{tmp_path.resolve()}/utskick.db"

    def test_a_database_url_is_used_as_it_is(self, tmp_path):
        url = "postgresql://utskick@db.example/utskick"
        assert Settings(home=tmp_path, database_url=url).resolved_database_url() == url

    def test_a_vendor_without_a_drop_writes_to_its_own_folder_in_the_home(self, tmp_path):
        settings = Settings(home=tmp_path)
        assert settings.vendor_drop(PrintVendor(name="tryckeriet")) == (
            tmp_path / "print-drop" / "tryckeriet"
        )
        drop = tmp_path / "utanfor"
        assert settings.vendor_drop(PrintVendor(drop=drop)) == drop

    def test_options_left_out_on_the_command_line_keep_the_environments_value(
        self, monkeypatch, tmp_path
    ):
        monkeypatch.setenv("UTSKICK_HOME", str(tmp_path))
        monkeypatch.setenv("UTSKICK_PORT", "8123")
        settings = load_settings(home=None, port=9000)
        assert (settings.home, settings.port) == (tmp_path, 9000)
