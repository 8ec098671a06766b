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


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/warehouse", "postgresql://app:***@db:5432/warehouse"),
        ("postgresql+psycopg2://app:s3cret@db/w?sslmode=require", "postgresql+psycopg2://app:***@db/w?sslmode=require"),
        ("postgresql://app:s3c@ret@db/w", "postgresql://app:***@db/w"),  # an @ left unescaped in the password
        ("postgresql://app:s3c%40ret@[::1]:5432/w", "postgresql://app:***@[::1]:5432/w"),
        ("postgresql:///w?host=%2Ftmp&password=s3cret", "postgresql:///w?host=%2Ftmp&password=***"),
        ("postgresql://postgres@/w?host=%2Ftmp%2Fpg", "postgresql://postgres@/w?host=%2Ftmp%2Fpg"),
        ("host=db password=s3cret", "(a connection string, not shown)"),
    ],
)
def test_mask_hides_the_password_wherever_the_url_holds_it(given, shown):
    assert warehouse.mask(given) == shown
    assert "s3c" not in warehouse.mask(given)
