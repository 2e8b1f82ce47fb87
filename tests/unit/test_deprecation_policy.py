"""The warning filters in pyproject.toml: a deprecation of our own making fails the test run."""

import warnings

import pytest
from starlette.exceptions import StarletteDeprecationWarning


def warn_from_module(module_name, category):
    """Warn as code in `module_name` would: the filters match the warning's module by name."""
    namespace = {"__name__": module_name, "warnings": warnings, "category": category}
    exec("warnings.warn('deprecated', category, stacklevel=1)", namespace)


@pytest.mark.parametrize(
    "module_name", ["utskick.letters.webhooks", "tests.unit.x", "support.world", "utskick"]
)
@pytest.mark.parametrize(
    "category", [DeprecationWarning, PendingDeprecationWarning, StarletteDeprecationWarning]
)
def test_a_deprecation_in_our_code_or_tests_is_an_error(module_name, category):
    with pytest.raises(category):
        warn_from_module(module_name, category)


@pytest.mark.parametrize("module_name", ["sqlalchemy.orm", "utskickish", "mytests.x"])
def test_a_deprecation_inside_another_library_is_only_reported(module_name):
    with pytest.warns(DeprecationWarning, match="deprecated"):
        warn_from_module(module_name, DeprecationWarning)
