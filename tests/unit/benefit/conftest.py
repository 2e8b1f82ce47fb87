"""The small town whose figures the benefit tests compute by hand."""

from decimal import Decimal

import pytest

from utskick.benefit.model import BenefitInputs

D = Decimal


def _small_town(**changes):
    """1,000 inhabitants over 2 years, with numbers chosen to be checked by hand.

    eligible = 1000 × 5 × 0.10 × (1 + 1) = 1000 mailings a year
    year 1: 2/10 processes × 50 % usage = 10 % digital → 100 moved (50 decisions)
    year 2: 10/10 processes × 100 % usage = 100 % digital → 1000 moved (500 decisions)
    """
    values = {
        "inhabitants": 1000,
        "mailings_per_inhabitant": D(5),
        "decision_share": D("0.10"),
        "preceding_mailings": D(1),
        "connectable_processes": 10,
        "processes_connected_first": D(2),
        "processes_connected_last": D(10),
        "usage_first": D("0.5"),
        "usage_last": D(1),
        "years": 2,
        "discount_rate": D("0.25"),
        "paper_cost": D(7),
        "digital_cost": D(2),
        "investment": D(10_000),
        "running_cost": D(1000),
        "minutes_saved": D(6),
        "hourly_cost": D(300),
        "security_value": D(50),
    }
    values.update(changes)
    return BenefitInputs(**values)


@pytest.fixture
def small_town():
    """A factory: the small town, with any input changed by keyword."""
    return _small_town
