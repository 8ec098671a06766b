"""Failures as users read them: the real cause behind an exception, one line saying what to do, exit codes.

One handler for the command line and the app: explain() words any exception in one line and picks its exit code;
command() wraps a subcommand with it, command_failed() prints it, and the app's workers show its line."""

from __future__ import annotations

import dataclasses
import functools
import sys
import traceback
from collections.abc import Iterator

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
    retcode: str = "task_failed"  # the luigi.cfg [retcode] a command that ends on this error returns
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


def unreachable(exc: BaseException, tries: str = "", setting: str = "the URL") -> str:
    """What to say about a warehouse that refused the login or cannot be reached."""
    first = first_line(exc)
    if any(text in str(exc) for text in _CONFIG_TEXT):
        return (
            f"the warehouse {config.describe_warehouse()} refused the login ({first}); check the user, password "
            "(~/.pgpass) and database name in PIPELINE_DATABASE_URL or luigi.cfg [warehouse] url"
        )
    return (
        f"cannot reach the warehouse {config.describe_warehouse()}{tries} ({first}); "
        f"check that PostgreSQL is running and {setting} is right, then run again"
    )


def failure_message(task: luigi.Task, exc: BaseException, attempts: int = 1) -> str:
    """One line saying what failed and what to do about it (`attempts`: how many tries the task had)."""
    cause = next((e for e in chain(exc) if isinstance(e, UserError)), None)
    if cause is not None:  # the error words itself (PipelineError: the message, then its hint)
        return f"{task}: {first_line(cause)}"
    exc = database_error(exc)
    first = first_line(exc)
    tries = f" ({attempts} tries)" if attempts > 1 else ""
    if isinstance(exc, psycopg2.errors.TransactionRollbackError):
        return (
            f"{task}: the warehouse aborted the transaction{tries} ({first}); "
            "another session was changing the same tables: run again when it is done"
        )
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
    code = max(
        c
        for c, status in (
            (0, None),
            (retcodes.missing_data, "still_pending_ext"),
            (retcodes.task_failed, "failed"),
            (retcodes.already_running, "run_by_other_worker"),
            (retcodes.scheduling_error, "scheduling_error"),
            (retcodes.not_run, "not_run"),
        )
        if status is None or status in found
    )
    if code == 0 and root not in sets["completed"] and root not in sets["already_done"]:
        return retcodes.not_run
    return code


@dataclasses.dataclass(frozen=True)
class Explained:
    line: str  # one line, without "error: "
    retcode: str  # the luigi.cfg [retcode] name: task_failed, already_running, unhandled_exception


def explain(exc: BaseException, debug: bool = False, app: bool = False) -> Explained:
    """The one line a user reads about an exception that ended a command (or an action of the app), and the
    exit code: task_failed for a failure with a known cause, unhandled_exception (and a hint to report it) for
    anything else. `app`: the words of the desktop app (its Settings page, no --debug)."""
    known = next((e for e in chain(exc) if isinstance(e, UserError)), None)
    if known is not None:  # the error words itself (PipelineError: the message, then its hint)
        return Explained(first_line(known), getattr(known, "retcode", "task_failed"))
    database = database_error(exc)
    if isinstance(database, psycopg2.OperationalError):
        return Explained(
            unreachable(database, setting="the warehouse URL in Settings" if app else "the URL"), "task_failed"
        )
    if app and isinstance(exc, psycopg2.Error):
        return Explained(f"the warehouse refused a query: {first_line(exc)}", "task_failed")
    if app and isinstance(exc, OSError) and getattr(exc, "filename", None):
        return Explained(f"{exc.strerror or first_line(exc)}: {exc.filename}", "task_failed")
    if isinstance(exc, LookupError | OSError | ValueError | psycopg2.Error):
        return Explained(first_line(exc), "task_failed")
    hint = "" if debug or app else "; run again with --debug for the traceback"
    return Explained(
        f"{type(exc).__name__}: {first_line(exc)} (an unexpected error{hint}, and report it)", "unhandled_exception"
    )


def command_failed(exc: BaseException, debug: bool = False) -> int:
    """Print one line for an exception that ended a command and return its exit code (see explain)."""
    if debug:
        traceback.print_exception(exc)
    explained = explain(exc, debug)
    print(f"error: {explained.line}", file=sys.stderr)
    return getattr(codes(), explained.retcode)


def command(interrupted: str | None = None):
    """Decorate a subcommand (args) -> exit code: an exception ends it in one line (command_failed), never a
    traceback; a known failure returns 1, which the entry point reports as [retcode] task_failed. `interrupted`:
    what to say on Ctrl-C (exit 130) instead of letting it through."""

    def decorate(function):
        @functools.wraps(function)
        def handle(args) -> int:
            try:
                return function(args) or 0
            except KeyboardInterrupt:
                if interrupted is None:
                    raise
                print(f"error: {interrupted}", file=sys.stderr)
                return 130
            except Exception as exc:  # noqa: BLE001 - one line, and the documented exit code
                code = command_failed(exc, getattr(args, "debug", False))
                return 1 if code == codes().task_failed else code

        return handle

    return decorate
