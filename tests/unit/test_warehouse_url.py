"""The warehouse URL as libpq takes it: SQLAlchemy's driver form converted, libpq's own passed through."""

import psycopg2.extensions
import pytest

from pipeline import warehouse


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+psycopg2://app:s3cret@db:5432/warehouse", "postgresql://app:s3cret@db:5432/warehouse"),
        ("postgresql://app:s3cret@db:5432/warehouse", "postgresql://app:s3cret@db:5432/warehouse"),
        ("postgresql://postgres@/warehouse?host=%2Ftmp%2Fpg", "postgresql://postgres@/warehouse?host=%2Ftmp%2Fpg"),
        ("postgres://app@localhost/w", "postgres://app@localhost/w"),
    ],
)
def test_libpq_url_takes_both_forms_and_libpq_parses_what_it_gives(given, expected):
    got = warehouse.libpq_url(given)
    assert got == expected
    parsed = psycopg2.extensions.parse_dsn(got)
    assert parsed["dbname"] in {"warehouse", "w"} and parsed["user"] in {"app", "postgres"}
