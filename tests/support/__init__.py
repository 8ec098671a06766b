"""What tests share besides fixtures: paths, the database factory, SQL helpers, the Luigi build helper.

Tests import from here (`from tests.support import build, query`), never from a conftest; the conftest files only
declare the fixtures, which call these functions.
"""

from tests.support.database import (
    admin_connection,
    create_database,
    drop_database,
    execute,
    new_database,
    query,
    scalar,
)
from tests.support.paths import ROOT, SAMPLE, SEED_SAMPLE
from tests.support.runs import build, healed_warehouse

__all__ = [
    "ROOT",
    "SAMPLE",
    "SEED_SAMPLE",
    "admin_connection",
    "build",
    "create_database",
    "drop_database",
    "execute",
    "healed_warehouse",
    "new_database",
    "query",
    "scalar",
]
