"""The one way tests make and drop databases on the test server, and small SQL helpers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection
from sqlalchemy.engine import make_url

from pipeline import warehouse


def admin_connection(admin_url: str) -> connection:
    """An autocommit connection to the server's maintenance database (CREATE/DROP DATABASE, roles)."""
    conn = psycopg2.connect(warehouse.libpq_url(admin_url))
    conn.autocommit = True
    return conn


def create_database(admin_url: str, prefix: str = "pipeline_test", template: str | None = None) -> tuple[str, str]:
    """A new database (empty, or a file copy of `template`) on the server of admin_url: its name and its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with contextlib.closing(admin_connection(admin_url)) as admin, admin.cursor() as cur:
        cur.execute(statement)
    url = make_url(warehouse.libpq_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_database(admin_url: str, name: str) -> None:
    with contextlib.closing(admin_connection(admin_url)) as admin, admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def new_database(admin_url: str, prefix: str = "pipeline_test", template: str | None = None) -> Iterator[str]:
    """A database for the block (module-scoped fixtures, loops), dropped after it: its URL."""
    name, url = create_database(admin_url, prefix, template)
    try:
        yield url
    finally:
        drop_database(admin_url, name)


def query(url: str, text: str, params=()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(text, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def execute(url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE DATABASE, DROP, ...)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


def scalar(url: str, text: str, params=()):
    return query(url, text, params)[0][0]
