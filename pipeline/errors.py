"""Failures as users read them: the real cause behind an exception, one line saying what to do, exit codes."""
from __future__ import annotations

import sys
import traceback
from typing import Iterator

import luigi
import luigi.execution_summary
import luigi.retcodes
import psycopg2
import psycopg2.errors

from . import config

_CONNECTION_CODES = ("08", "57P01", "57P02", "57P03", "53300", "53200")  # connection, shutdown, too many, memory
_CONFIG_TEXT = ("password authentication failed", "does not exist", "no pg_hba.conf entry", "role ")


class UserError(Exception):
    """A failure whose message is one line saying what happened and what to do (no traceback needed)."""


class PipelineError(UserError):
    """An error the user can act on, in one line: what happened, then `hint`, what to do next. The stage errors
    (ingest.SourceError, quality's HealError, ContractError, ProfileError) subclass it and carry their own wording;
    this module never imports them."""

    hint: str = ""
    run_again: bool = False  # the hint ends ", then run again": the cure is outside the warehouse (a file, a setting)

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        if not self.hint or self.hint in text:
            return text
        return f"{text}; {self.hint}" + (", then run again" if self.run_again else "")


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it: the explicit cause (`raise ... from`), else the exception it
    interrupted, unless `raise ... from None` said that one is beside the point."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__


def database_error(exc: BaseException) -> BaseException:
    """The database error behind an exception: a rollback on a dropped connection raises InterfaceError
    ('connection already closed') while the server's reason is the OperationalError it interrupted."""
    return next((e for e in chain(exc) if isinstance(e, psycopg2.OperationalError)), exc)


def transient(exc: BaseException) -> bool:
    """A database error that running again may cure: lost or refused connection, deadlock, server restart."""
    exc = database_error(exc)
    if isinstance(exc, psycopg2.InterfaceError) and "closed" in str(exc):  # the connection was lost
        return True
    if isinstance(exc, psycopg2.errors.TransactionRollbackError):  # deadlock, serialization failure
        return True
    if not isinstance(exc, psycopg2.OperationalError):
        return False
    code = getattr(exc, "pgcode", None)
    if code:
        return code.startswith(_CONNECTION_CODES)
    return not any(text in str(exc) for text in _CONFIG_TEXT)  # a refused login does not cure itself


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def unreachable(exc: BaseException, tries: str = "") -> str:
    """What to say about a warehouse that refused the login or cannot be reached."""
    first = first_line(exc)
    if any(text in str(exc) for text in _CONFIG_TEXT):
        return (f"the warehouse {config.describe_warehouse()} refused the login ({first}); check the user, password "
                "(~/.pgpass) and database name in PIPELINE_DATABASE_URL or luigi.cfg [warehouse] url")
    return (f"cannot reach the warehouse {config.describe_warehouse()}{tries} ({first}); "
            "check that PostgreSQL is running and the URL is right, then run again")


def failure_message(task: luigi.Task, exc: BaseException) -> str:
    """One line saying what failed and what to do about it."""
    cause = next((e for e in chain(exc) if isinstance(e, UserError)), None)
    if cause is not None:  # the error words itself (PipelineError: the message, then its hint)
        return f"{task}: {first_line(cause)}"
    exc = database_error(exc)
    first = first_line(exc)
    attempts = getattr(task, "_history_attempt", 1)
    tries = f" ({attempts} tries)" if attempts > 1 else ""
    if isinstance(exc, psycopg2.errors.TransactionRollbackError):
        return (f"{task}: the warehouse aborted the transaction{tries} ({first}); "
                "another session was changing the same tables: run again when it is done")
    if isinstance(exc, psycopg2.OperationalError) or transient(exc):
        return f"{task}: {unreachable(exc, tries)}"
    return f"{task}: {type(exc).__name__}: {first}"


# ---------------------------------------------------------------- exit codes (luigi.cfg [retcode])

def codes() -> luigi.retcodes.retcode:
    """The exit codes luigi.cfg [retcode] sets; `luigi` and every `python -m pipeline` command return them."""
    return luigi.retcodes.retcode()


def run_exit_code(worker) -> int:
    """The exit code of a finished build, decided exactly as the `luigi` command decides it."""
    retcodes = codes()
    sets = luigi.execution_summary._summary_dict(worker)
    root = luigi.execution_summary._root_task(worker)
    found = {name for name, tasks in sets.items() if tasks}
    code = max(c for c, status in ((0, None), (retcodes.missing_data, "still_pending_ext"),
                                   (retcodes.task_failed, "failed"), (retcodes.already_running, "run_by_other_worker"),
                                   (retcodes.scheduling_error, "scheduling_error"), (retcodes.not_run, "not_run"))
               if status is None or status in found)
    if code == 0 and root not in sets["completed"] and root not in sets["already_done"]:
        return retcodes.not_run
    return code


def command_failed(exc: BaseException, debug: bool = False) -> int:
    """Print one line for an exception that ended a command and return its exit code: task_failed for a
    failure with a known cause, unhandled_exception (and a hint to report it) for anything else."""
    if debug:
        traceback.print_exception(exc)
    known = next((e for e in chain(exc) if isinstance(e, UserError)), None)
    if known is not None:  # the error words itself (PipelineError: the message, then its hint)
        print(f"error: {first_line(known)}", file=sys.stderr)
        return codes().task_failed
    database = database_error(exc)
    if isinstance(database, psycopg2.OperationalError):
        print(f"error: {unreachable(database)}", file=sys.stderr)
        return codes().task_failed
    if isinstance(exc, LookupError | OSError | ValueError | psycopg2.Error):
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return codes().task_failed
    hint = "" if debug else "; run again with --debug for the traceback"
    print(f"error: {type(exc).__name__}: {first_line(exc)} (an unexpected error{hint}, and report it)",
          file=sys.stderr)
    return codes().unhandled_exception
