"""The declarative base every model inherits, with a naming convention for constraints.

Named constraints let Alembic alter tables in batch mode on SQLite and drop constraints
by name on PostgreSQL.
"""

from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The id of a table that grows without end (jobs, events, the access log): 64 bits on
# PostgreSQL, where a plain integer runs out at 2^31 (a few years of night runs). SQLite's
# INTEGER PRIMARY KEY is 64 bits already, and must stay INTEGER to be the rowid.
GrowingId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Base class of all tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
