"""Hostile input on a real PostgreSQL: fuzzed Parquet files, values that look like SQL, shell or CSV control, and
passwords that must never show."""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from psycopg2 import sql
from sqlalchemy.engine import make_url

from pipeline import ingest, warehouse
from pipeline.orchestration.tasks import HealTable
from pipeline.tables import spec

from tests.support import ROOT, SAMPLE, admin_connection, build, create_database, drop_database, query, scalar

# ---------------------------------------------------------------- fuzzed Parquet files

INTEGERS = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]
TEMPORAL = [
    pa.date32(),
    pa.date64(),
    pa.timestamp("s"),
    pa.timestamp("ms"),
    pa.timestamp("us"),
    pa.timestamp("ns"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("ms", tz="Asia/Kolkata"),
    pa.timestamp("ns", tz="America/New_York"),
    pa.time32("s"),
    pa.time32("ms"),
    pa.time64("us"),
    pa.time64("ns"),
    pa.duration("s"),
    pa.duration("ns"),
]
OTHER = [
    pa.float16(),
    pa.float32(),
    pa.float64(),
    pa.decimal128(38, 10),
    pa.decimal128(5, 0),
    pa.decimal256(76, 20),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.large_binary(),
    pa.bool_(),
    pa.list_(pa.int32()),
    pa.struct([("a", pa.string()), ("b", pa.float64())]),
    pa.dictionary(pa.int8(), pa.string()),
    pa.null(),
    "invalid-utf8-string",
]
TYPES = INTEGERS + TEMPORAL + OTHER

HOSTILE_TEXT = [
    "'; DROP TABLE raw.claims; --",
    "$(rm -rf /)",
    "`id`",
    'a,b\n"c"',
    "\\N",
    "\\.",
    "%s",
    "{}",
    "a\n\\.\nb",
    "\x00",
    "nul\x00inside",
    "",
    "Ünïcødé ✓ 日本語 😀",
    "\r\n",
    "\t",
    '"',
    "\\",
]
# Column names PostgreSQL would reject, change or confuse with its own.
HOSTILE_NAMES = [
    "",
    "x" * 64,
    "x" * 70,
    "xmin",
    "ctid",
    "_source_row",
    "_batch_id",
    "a\nb",
    "DROP TABLE raw.claims",
    'quo"te',
    "Ünïcødé",
    "c0",
    "select",
    "a\x00b",
]

texts = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(st.characters(exclude_categories=("Cs",)), max_size=30))


def _storage(type_: pa.DataType, wild: bool = True) -> tuple[pa.DataType, st.SearchStrategy]:
    """The integer storage of a temporal type and its values: over the whole range (huge and tiny) when wild,
    else within a few years of 1970."""
    width = 32 if type_ in (pa.date32(), pa.time32("s"), pa.time32("ms")) else 64
    storage = pa.int32() if width == 32 else pa.int64()
    bound = 2 ** (width - 1)
    if not wild:
        return storage, st.integers(-(10**4), 10**4)  # days, or (sub)seconds: all near 1970
    return storage, st.one_of(
        st.integers(-bound, bound - 1), st.integers(-(10**6), 10**6), st.sampled_from([0, -1, 1, bound - 1, -bound])
    )


def values_of(type_, wild: bool = True) -> st.SearchStrategy:
    if type_ == "invalid-utf8-string" or type_ in (pa.binary(), pa.large_binary()):
        return st.one_of(st.binary(max_size=20), st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"ok", b"\xed\xa0\x80"]))
    if type_ in INTEGERS:
        info = np.iinfo(type_.to_pandas_dtype())
        return st.one_of(st.integers(int(info.min), int(info.max)), st.sampled_from([int(info.min), int(info.max), 0]))
    if type_ in (pa.float16(), pa.float32(), pa.float64()):
        width = {pa.float16(): 16, pa.float32(): 32, pa.float64(): 64}[type_]
        return st.floats(width=width, allow_nan=True, allow_infinity=True)
    if pa.types.is_decimal(type_):
        limit = decimal.Decimal(10) ** (type_.precision - type_.scale - 1)  # rounding to places stays in range
        return st.decimals(min_value=-limit, max_value=limit, places=type_.scale, allow_nan=False, allow_infinity=False)
    if type_ in (pa.string(), pa.large_string()) or pa.types.is_dictionary(type_):
        return texts
    if type_ == pa.bool_():
        return st.booleans()
    if type_ in TEMPORAL:
        return _storage(type_, wild)[1]
    if pa.types.is_list(type_):
        return st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), max_size=4)
    if pa.types.is_struct(type_):
        return st.fixed_dictionaries({"a": st.one_of(st.none(), texts), "b": st.floats()})
    return st.none()


def array_of(type_, values: list) -> pa.Array:
    if type_ == "invalid-utf8-string":
        return pa.array(values, pa.binary()).view(pa.string())  # a string column that is not UTF-8
    if type_ in TEMPORAL:
        return pa.array(values, _storage(type_)[0]).view(type_)
    if pa.types.is_dictionary(type_):
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, type_)


@st.composite
def columns(draw, rows: int):
    type_ = draw(st.sampled_from(TYPES))
    values = draw(st.lists(st.one_of(st.none(), values_of(type_)), min_size=rows, max_size=rows))
    return array_of(type_, values)


@st.composite
def hostile_files(draw):
    """(table name, Arrow table, write options): the table's columns, some missing, retyped or repeated, plus
    extra columns with awkward names, in any order."""
    name = draw(st.sampled_from(["payment_methods", "claims"]))
    rows = draw(st.one_of(st.integers(1, 6), st.integers(0, 40)))
    # How hostile this file is: a share of the spec's columns in another type, dates far out, a column missing.
    retyped = draw(st.sampled_from([0, 0, 1, 3, 10]))  # in tenths
    wild = draw(st.booleans())
    missing = draw(st.integers(-3 * len(spec(name).columns), len(spec(name).columns) - 1))
    names, arrays = [], []
    for i, column in enumerate(spec(name).columns):
        if i == missing:
            continue
        if draw(st.integers(0, 9)) >= retyped:  # of the spec's type, with nulls and hostile values
            far = wild and draw(st.integers(0, 3)) == 0
            values = draw(
                st.lists(st.one_of(st.none(), values_of(column.arrow_type, far)), min_size=rows, max_size=rows)
            )
            arrays.append(array_of(column.arrow_type, values))
        else:
            arrays.append(draw(columns(rows)))
        names.append(column.name)
    for _ in range(draw(st.integers(0, 2))):  # extra columns: odd names, a name twice, names PostgreSQL refuses
        any_name = st.text(min_size=1, max_size=12)
        names.append(
            draw(
                st.one_of(any_name, any_name, any_name, st.sampled_from(HOSTILE_NAMES), st.sampled_from(names or ["x"]))
            )
        )
        arrays.append(draw(columns(rows)))
    order = draw(st.permutations(range(len(names))))
    table = (
        pa.Table.from_arrays([arrays[i] for i in order], names=[names[i] for i in order])
        if names
        else pa.table({"only": pa.nulls(rows)})
    )
    options = draw(
        st.fixed_dictionaries(
            {
                "compression": st.sampled_from(["none", "snappy", "zstd", "gzip"]),
                "use_dictionary": st.booleans(),
                "row_group_size": st.sampled_from([1, 7, 1000]),
                "data_page_version": st.sampled_from(["1.0", "2.0"]),
                "write_statistics": st.booleans(),
            }
        )
    )
    return name, table, options


@pytest.fixture(scope="module")
def loaded(pg_admin_url):
    """A warehouse whose incoming.payment_methods and incoming.claims hold the committed sample, loaded and not yet
    published (what a failed load must keep)."""
    name, url = create_database(pg_admin_url)
    conn = psycopg2.connect(url)
    warehouse.bootstrap(conn)
    counts = {}
    for table in ("payment_methods", "claims"):
        counts[table] = ingest.load_table(conn, spec(table), SAMPLE / f"{table}.parquet", "sample").rows
    conn.commit()
    yield conn, counts
    conn.close()
    drop_database(pg_admin_url, name)


def load_outcome(conn, table: str, path: Path, rows: int, previous: int) -> str:
    """Load a file in a transaction: a clean load of every row, or SourceError in one line naming the file; never
    another exception, and after a failure the staged table keeps its previous rows. Rolled back either way."""
    try:
        result = ingest.load_table(conn, spec(table), path, "fuzz")
    except ingest.SourceError as exc:
        conn.rollback()
        message = str(exc)
        assert "\n" not in message and "\r" not in message and str(path) in message, message
        outcome = "refused"
    except BaseException:
        conn.rollback()  # the next example starts clean
        raise
    else:
        assert result.rows == rows
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT count(*), count(DISTINCT _source_row) FROM {}").format(
                    sql.Identifier("incoming", table)
                )
            )
            assert cur.fetchone() == (rows, rows)
        conn.rollback()
        outcome = "loaded"
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("incoming", table)))
        assert cur.fetchone()[0] == previous
    conn.rollback()
    return outcome


# No shrinking: a failure shows the file as drawn, and the run stays short (the cases below pin what was found).
@settings(
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate),
)
@given(case=hostile_files())
def test_fuzzed_files_load_whole_or_fail_in_one_line(loaded, tmp_path_factory, case):
    conn, counts = loaded
    name, table, options = case
    path = tmp_path_factory.mktemp("fuzz") / f"{name}.parquet"
    try:
        pq.write_table(table, path, **options)
    except (pa.ArrowException, OSError):
        return  # Parquet itself cannot hold it (e.g. seconds beyond the millisecond range)
    event(load_outcome(conn, name, path, table.num_rows, counts[name]))


def _payment_methods(**columns) -> pa.Table:
    n = len(next(iter(columns.values()))) if columns else 2
    ts = pa.array([1_700_000_000_000_000] * n, pa.timestamp("us"))
    base = {
        "method_id": pa.array([f"PM{i}" for i in range(n)]),
        "method_name": pa.array([f"m{i}" for i in range(n)]),
        "description": pa.array(["d"] * n),
        "created_at": ts,
        "updated_at": ts,
        "created_by": pa.array(["S"] * n),
        "updated_by": pa.array(["S"] * n),
    }
    return pa.table({**base, **columns})


# Files the fuzzer found that ingest turned into a database error or a wrong table instead of SourceError.
REFUSED = {
    "binary column with invalid UTF-8": _payment_methods(description=pa.array([b"\xff\xfe", b"ok"], pa.binary())),
    "string column with invalid UTF-8": _payment_methods(
        description=pa.array([b"ok", b"\xc3\x28"], pa.binary()).view(pa.string())
    ),
    "list column": _payment_methods(extra=pa.array([[1, 2], None], pa.list_(pa.int32()))),
    "struct column": _payment_methods(extra=pa.array([{"a": "x"}, None], pa.struct([("a", pa.string())]))),
    "date beyond PostgreSQL's range": _payment_methods(extra=pa.array([0, 2**31 - 1], pa.int32()).view(pa.date32())),
    "date before year 1": _payment_methods(extra=pa.array([0, -800_000], pa.int32()).view(pa.date32())),
    "timestamp before year 1": _payment_methods(
        created_at=pa.array([0, -70_000_000_000_000], pa.int64()).view(pa.timestamp("ms"))
    ),
    "two names alike in their first 63 bytes": _payment_methods(
        **{"x" * 64: pa.array([1, 2]), "x" * 65: pa.array([3, 4])}
    ),
    "empty column name": _payment_methods(**{"": pa.array([1, 2])}),
    "NUL in a column name": _payment_methods(**{"\x00¢": pa.array([1, 2])}),  # found by the fuzzer
    "system column name": _payment_methods(xmin=pa.array([1, 2])),
    "more columns than a table holds": _payment_methods(**{f"e{i}": pa.array([i, i]) for i in range(1600)}),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_files_postgresql_cannot_hold_are_refused_in_one_line(loaded, tmp_path, case):
    conn, counts = loaded
    path = tmp_path / "payment_methods.parquet"
    pq.write_table(REFUSED[case], path)
    assert load_outcome(conn, "payment_methods", path, REFUSED[case].num_rows, counts["payment_methods"]) == "refused"


def test_awkward_but_storable_types_load_whole(loaded, tmp_path):
    conn, _ = loaded
    n = 3
    table = _payment_methods(
        description=pa.array(["Ünïcødé ✓", None, "\\."]),
        i8=pa.array([-128, 127, None], pa.int8()),
        u64=pa.array([2**64 - 1, 0, None], pa.uint64()),
        f16=pa.array([np.float16(1.5), np.float16("inf"), None], pa.float16()),
        f64=pa.array([float("nan"), -0.0, 1e308]),
        dec=pa.array([decimal.Decimal("1e70"), None, 0], pa.decimal256(76, 0)),
        d64=pa.array([datetime.date(1, 1, 1), datetime.date(9999, 12, 31), None], pa.date64()),
        tz=pa.array([0, 2**62, None], pa.int64()).view(pa.timestamp("ns", tz="Asia/Kolkata")),
        t64=pa.array([1, 86_399_999_999, None], pa.int64()).view(pa.time64("us")),
        dur=pa.array([1, -1, None], pa.duration("s")),
        dic=pa.array(["a", None, "a"]).dictionary_encode(),
        nothing=pa.nulls(n),
        blob=pa.array([b"plain", b"", None], pa.large_binary()),
        **{"Ünïcødé name": pa.array([1, 2, 3]), 'quo"te': pa.array([1, 2, 3]), "x" * 63: pa.array([1, 2, 3])},
    )
    path = tmp_path / "payment_methods.parquet"
    pq.write_table(table, path)
    result = ingest.load_table(conn, spec("payment_methods"), path, "awkward")
    try:
        assert result.rows == n
        with conn.cursor() as cur:
            cur.execute(
                'SELECT description, u64::text, dec::text, d64::text, blob, "Ünïcødé name", "quo""te", '
                "f64::text, f16::text FROM incoming.payment_methods ORDER BY _source_row"
            )
            got = cur.fetchall()
        assert got[0] == ("Ünïcødé ✓", str(2**64 - 1), "1" + "0" * 70, "0001-01-01", "plain", 1, 1, "NaN", "1.5")
        assert got[1][3] == "9999-12-31" and got[1][7] == "-0" and got[1][8] == "Infinity"
        assert got[2][0] == "\\." and got[2][4] is None
    finally:
        conn.rollback()


# ---------------------------------------------------------------- values that look like code, through the pipeline

LOOKS_LIKE_CODE = [
    "'; DROP TABLE raw.claims; --",
    "$(rm -rf /)",
    "`id`",
    'a,b\n"c"',
    "\\N",
    "\\.",
    "%s",
    "{}",
    "a\n\\.\nb",
    "Robert'); DROP TABLE clean.customers;--",
    "%(name)s",
    "NULL",
    "${HOME}",
    "<script>alert(1)</script>",
    "\\x00",
    "'",
    '"',
    "",
]


def _replace(path: Path, column: str, rows: list[int], values: list) -> None:
    table = pq.read_table(path)
    column_values = table.column(column).to_pylist()
    for row, value in zip(rows, values, strict=True):
        column_values[row] = value
    i = table.schema.get_field_index(column)
    pq.write_table(table.set_column(i, column, pa.array(column_values, table.schema.field(column).type)), path)


def test_values_that_look_like_code_pass_unchanged_or_are_quarantined_with_a_reason(
    database_url, data_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(tmp_path / "reports"))
    n = len(LOOKS_LIKE_CODE)
    claims_rows, bad_id_rows, region_rows = (list(range(first, 250 * n, 250)) for first in (7, 90, 170))
    customer_rows, email_rows = (list(range(first, 25 * n, 25)) for first in (3, 15))
    _replace(data_dir / "claims.parquet", "notes", claims_rows, LOOKS_LIKE_CODE)
    _replace(data_dir / "customers.parquet", "address", customer_rows, LOOKS_LIKE_CODE)
    _replace(data_dir / "payment_methods.parquet", "description", [0, 1, 2, 3, 4], LOOKS_LIKE_CODE[:5])
    # Where a rule applies, the same values break it: an id with a regex, an allowed-values column, an email.
    bad_ids = [f"CL{i:08d}{v or '?'}" for i, v in enumerate(LOOKS_LIKE_CODE)]
    _replace(data_dir / "claims.parquet", "claim_id", bad_id_rows, bad_ids)
    _replace(data_dir / "claims.parquet", "region", region_rows, LOOKS_LIKE_CODE)
    _replace(data_dir / "customers.parquet", "email", email_rows, LOOKS_LIKE_CODE)

    result = build(HealTable("claims"), HealTable("customers"), HealTable("payment_methods"), workers=2)
    assert result.scheduling_succeeded, result.summary_text

    def outcome(table: str, column: str, row: int):
        """('clean', value, flags) or ('quarantine', original value, rule ids) of a raw row (0-based file row)."""
        key = spec(table).primary_key[0]
        found = query(
            database_url, f'SELECT "{column}"::text, _flags FROM clean."{table}" WHERE _source_row = %s', (row + 1,)
        )
        if found:
            return ("clean", *found[0])
        held = query(
            database_url,
            "SELECT original, rule_ids FROM quality.quarantine WHERE table_name = %s AND source_row = %s",
            (table, row + 1),
        )
        assert held, f"{table} row {row + 1} is neither clean nor quarantined"
        assert key in held[0][0]
        return ("quarantine", held[0][0][column], held[0][1])

    # Valid wherever a column takes any text: unchanged in clean (or kept exactly in quarantine for another reason).
    for table, column, rows, values in (
        ("claims", "notes", claims_rows, LOOKS_LIKE_CODE),
        ("customers", "address", customer_rows, LOOKS_LIKE_CODE),
        ("payment_methods", "description", range(5), LOOKS_LIKE_CODE[:5]),
    ):
        places = [outcome(table, column, row) for row in rows]
        assert [p[1] for p in places] == list(values), (table, column)
        assert not [p for p in places if p[0] == "quarantine" and any(column in r for r in p[2])]
        assert sum(p[0] == "clean" for p in places) >= len(places) / 2, places  # the rest broke other rules
    # Invalid where a rule applies: an id of another shape quarantined, the rule named, the original value kept
    # exactly; a value outside the contract's vocabulary kept exactly and flagged (the column is not strict).
    places = [outcome("claims", "claim_id", row) for row in bad_id_rows]
    assert [p[0] for p in places] == ["quarantine"] * n
    assert [p[1] for p in places] == bad_ids
    assert all("claims.claim_id.regex" in p[2] for p in places), places
    places = [outcome("claims", "region", row) for row in region_rows]
    assert [p[1] for p in places] == list(LOOKS_LIKE_CODE)
    assert all("claims.region.allowed" in (p[2] or []) for p in places), places
    messages = [
        m
        for (m,) in query(
            database_url,
            "SELECT messages->>'claims.claim_id.regex' FROM quality.quarantine "
            "WHERE 'claims.claim_id.regex' = ANY(rule_ids)",
        )
    ]
    assert len(messages) == n and set(messages) == {"value does not match regex 'CL[0-9]{8}'"}
    # An email that is no email is kept and flagged (the email rule's action); one that only needed lower-casing and
    # trimming is fixed, with the exact value before in heal_log.
    places = [outcome("customers", "email", row) for row in email_rows]
    assert sum(p[0] == "clean" for p in places) >= n / 2, places
    for row, value, (where, email, reasons) in zip(email_rows, LOOKS_LIKE_CODE, places, strict=True):
        if where == "quarantine":  # for another reason: the value is kept as it came
            assert email == value and not [r for r in reasons if "email" in r]
            continue
        assert "customers.email.email" in reasons
        normalised = value.strip(" ").lower()  # lower(btrim(email))
        assert email == normalised
        if normalised != value:
            assert query(
                database_url,
                "SELECT before, after FROM quality.heal_log WHERE table_name = 'customers' "
                "AND source_row = %s AND column_name = 'email'",
                (row + 1,),
            ) == [(value, email)]
    # And nothing was executed: every table is still there with every row.
    assert (
        scalar(database_url, "SELECT count(*) FROM raw.claims")
        == pq.ParquetFile(data_dir / "claims.parquet").metadata.num_rows
    )
    assert scalar(database_url, "SELECT count(*) FROM clean.customers") > 0


# ---------------------------------------------------------------- passwords never show

SECRET = "S3cret-pw-42"


@pytest.fixture
def secret_url(pg_admin_url, make_database):
    """A warehouse database owned by a role with a password; its URL with the password in it."""
    role = f"pipeline_pw_{uuid.uuid4().hex[:8]}"
    url = make_database()
    name = make_url(url).database
    with contextlib.closing(admin_connection(pg_admin_url)) as admin, admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(SECRET)))
        cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(role)))
    yield make_url(url).set(username=role, password=SECRET).render_as_string(hide_password=False)
    drop_database(pg_admin_url, name)  # before its owner role goes
    with contextlib.closing(admin_connection(pg_admin_url)) as admin, admin.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_the_password_never_shows(secret_url, tmp_path, monkeypatch):
    assert SECRET in secret_url
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "PIPELINE_DATABASE_URL": secret_url,
        "PIPELINE_DATA_DIR": str(SAMPLE),
        "PIPELINE_REPORT_DIR": str(reports),
        "PIPELINE_PROGRESS": "1",
        "PIPELINE_BACKUP_DIR": str(tmp_path / "b"),
    }
    seen = []
    for args in (["run", "--workers", "2"], ["status"]):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *args],
            check=False,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        seen += [done.stdout, done.stderr]
    assert "warehouse: postgresql://pipeline_pw_" in seen[0] and ":***@" in seen[0]
    # A run that fails to reach the warehouse names it in its error, masked.
    unreachable = make_url(secret_url).set(host="127.0.0.1", port=1, query={}).render_as_string(hide_password=False)
    settings_file = tmp_path / "luigi.cfg"
    settings_file.write_text("[retries]\nattempts = 1\ndelay = 0\n")
    failed = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--workers", "1"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "PIPELINE_DATABASE_URL": unreachable, "LUIGI_CONFIG_PATH": str(settings_file)},
    )
    assert failed.returncode != 0 and "127.0.0.1" in failed.stderr + failed.stdout, failed.stderr[-3000:]
    seen += [failed.stdout, failed.stderr]

    url = secret_url
    history = [
        json.dumps(rows, default=str)
        for rows in (
            query(url, "SELECT * FROM ops.task_runs"),
            query(url, "SELECT * FROM ops.runs"),
            query(url, "SELECT * FROM ops.markers"),
        )
    ]
    assert '"LoadTable"' in history[0] and "transform" in history[2]
    seen += history
    seen += [p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file()]

    # A backup of this warehouse: its manifest and the command's output.
    from pipeline import backup

    monkeypatch.setenv("PIPELINE_DATABASE_URL", secret_url)
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    made = backup.create()
    seen += [(made.folder / "manifest.json").read_text()]
    # What the app shows of the warehouse.
    seen += [warehouse.describe(), warehouse.mask(secret_url)]

    leaks = [text[max(0, text.find(SECRET) - 80) : text.find(SECRET) + 40] for text in seen if SECRET in text]
    assert leaks == []
