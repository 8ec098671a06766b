"""Thin Luigi tasks: each work() calls one stage function; PipelineTask.run() owns the transaction around it."""

from __future__ import annotations

import functools
import logging

import luigi
from psycopg2.extras import execute_values

from .. import (
    analytics,
    analytics_changes,
    arrow_values,
    backup,
    config,
    delta_load,
    errors,
    fingerprint_reads,
    forecast,
    gone_parts,
    ingest,
    load_plan,
    part_failures,
    sources,
    warehouse,
)
from .. import quality as quality_package
from ..quality import catalog, contract, heal, resolutions
from ..tables import TABLES, spec
from . import history, markers, retry, writelock
from .history import Figures
from .markers import MarkerTarget, Versioned, combine

log = logging.getLogger(__name__)


def _lock(conn, name: str) -> None:
    """Serialise work on one object across processes for the transaction's lifetime."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))


def staged_tables() -> set[str]:
    """The tables with a delivery loaded and not yet published by its heal (incoming.<table>)."""
    with warehouse.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (warehouse.STAGE,))
        return {name for (name,) in cur.fetchall() if name in TABLES}


def unreadable_parts() -> list[tuple[str, str, str]]:
    """(table, part, reason) of the part files the latest loads could not read (ops.source_failures)."""
    with warehouse.transaction() as conn, conn.cursor() as cur:
        warehouse.bootstrap(conn)
        return part_failures.current(cur)


def _once_per_look(fingerprint):
    """A task's fingerprint computed once per look at the graph (fingerprint_reads.once_per_look): Transform's holds
    every heal's, and each heal's its parents' again."""

    @functools.wraps(fingerprint)
    def looked(self) -> str:
        return fingerprint_reads.once_per_look(
            ("fingerprint", type(self).__name__, getattr(self, "table", None)), lambda: fingerprint(self)
        )

    return looked


class PipelineTask(Versioned, luigi.Task):
    """A task whose completion is a marker row holding the fingerprint of its inputs.

    run() is the same for every task, as luigi.contrib.rdbms.CopyToTable.run is: one transaction that shares the
    warehouse's write lock, sets the warehouse up and locks the task's object (begin), does the task's work, and
    writes the marker before it commits; a transient database error runs it all again ([retries]); the figures
    work() returns go to the run history. A task declares its marker and fingerprint and implements work()."""

    def marker_id(self) -> str:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def work(self, conn, run_id: str) -> Figures:
        """The task's work, in its transaction (conn); what it did, for the run history."""
        raise NotImplementedError

    def begin(self, conn) -> None:
        """Start the task's transaction: share the warehouse's write lock, set the warehouse up, lock the task's
        object."""
        writelock.in_task(conn)
        warehouse.bootstrap(conn)
        _lock(conn, self.marker_id())

    def run(self):
        run_id = markers.run_id()
        figures = retry.transient_retries(self, lambda: self._attempt(run_id))
        history.record_result(self, figures)
        self.after_commit()

    def after_commit(self) -> None:
        """What the task says once its work is committed (Transform: the part files no load could read)."""

    def _attempt(self, run_id: str) -> Figures:
        with warehouse.transaction() as conn:
            self.begin(conn)
            figures = self.work(conn, run_id)
            self.output().write(conn, run_id)  # in the data's transaction: done and marked, or neither
        return figures

    def output(self) -> MarkerTarget:
        return MarkerTarget(self.marker_id(), self.task_family, self.fingerprint())

    def complete(self) -> bool:
        writelock.luigi_run()  # the scheduling process shares the write lock before its first look at the warehouse
        return super().complete()

    def on_failure(self, exception):
        # The scheduler page and the summary show this one line; the traceback stays in the log.
        return errors.failure_message(self, exception, history.attempt(self).number)


class LoadTable(PipelineTask):
    """Parquet file -> incoming.<table>, every row kept as it arrived, with lineage; published to raw.<table> by
    the table's heal, with clean and the quarantine, so that a kill between the two changes nothing users read."""

    table = luigi.ChoiceParameter(choices=list(TABLES))

    def source_path(self):
        return sources.source_path(config.data_dir(), self.table)

    def marker_id(self) -> str:
        return f"load:{self.table}"

    @_once_per_look
    def fingerprint(self) -> str:
        path = self.source_path()
        content = markers.file_digest(path) if path.exists() else "missing"
        code = self.load_inputs()
        forgotten = ""
        if sources.is_folder_source(path):
            present = {str(f.relative_to(config.data_dir())) for f in sources.part_files(path)}
            forgotten = gone_parts.forgotten_digest(self.table, present)
        return combine(content, code, forgotten)

    def load_inputs(self) -> str:
        """What the rows are loaded with besides the files: the table's spec and the loading code."""
        code = markers.source_digest(ingest, arrow_values, load_plan, part_failures, gone_parts, sources, delta_load)
        return combine(warehouse.spec_hash(spec(self.table)), code)

    def work(self, conn, run_id: str) -> Figures:
        result = ingest.load_table(
            conn,
            spec(self.table),
            self.source_path(),
            run_id,
            config.data_dir(),
            digest=markers.file_digest,
            inputs=self.load_inputs(),
        )
        details = {"extra_columns": result.extra_columns, "escaped_values": result.escaped_values}
        if sources.is_folder_source(self.source_path()):  # what was staged: every part, or only the new ones
            details |= {"staged": result.mode, "why": result.mode_reason}
        if result.failed:  # the run's Transform fails on these (part_failures), once the rest is healed
            details |= {"failed_parts": [dict(part=p, reason=r) for p, r in result.failed], "kept": result.kept_rows}
        if result.gone:  # status names them; `parts forget` lets the next load drop them
            details |= {"gone_parts": result.gone}
        kept = result.kept_rows + sum(result.gone.values())
        return Figures(rows_in=result.rows, rows_out=result.rows + kept, details=details)


class HealTable(PipelineTask):
    """raw.<table> -> clean.<table> and quality.*, after the tables it refers to; a delivery its load staged is
    published to raw.<table> in the same transaction."""

    table = luigi.ChoiceParameter(choices=list(TABLES))

    def complete(self) -> bool:
        # A staged delivery is a heal still to do, whatever the marker says (a file put back as it was after a
        # delivery failed its gates; a backup restored with a staged delivery in it).
        return super().complete() and self.table not in staged_tables()

    def requires(self):
        return {"load": LoadTable(self.table), "parents": [HealTable(p) for p in catalog.heal_parents(self.table)]}

    @property
    def priority(self) -> int:  # type: ignore[override]  # Luigi's class attribute, computed per table here
        # The heals of customers, policies, claims and payments run one after another: with two workers, the
        # tables on that path go first (Luigi gives a task's loads its priority); the big loads of claims and
        # payments fill the other worker meanwhile.
        return 1 + len(catalog.heal_descendants(self.table))

    def marker_id(self) -> str:
        return f"heal:{self.table}"

    @_once_per_look
    def fingerprint(self) -> str:
        inputs = self.requires()
        parents = [p.fingerprint() for p in inputs["parents"]]
        return combine(inputs["load"].fingerprint(), *parents, self.rule_inputs())

    def rule_inputs(self) -> str:
        """What the heal applies besides the rows: a change heals the whole table again."""
        return combine(
            markers.source_digest(quality_package),
            repr(sorted(config.rule_thresholds().items())),
            contract.load(self.table).digest,
            resolution_digest(self.table),
            warehouse.spec_hash(spec(self.table)),
        )

    def work(self, conn, run_id: str) -> Figures:
        forced = markers.forced(conn, self.marker_id())  # invalidated by hand, or `run --rebuild`: in full
        result = heal.heal_table(conn, spec(self.table), run_id, self.rule_inputs(), forced)
        quality_record(conn, result, run_id)
        # The tables that refer to this one keep their rows: the same inputs heal to the same rows, so their
        # markers stay valid, and new inputs changed their fingerprints too (they run after this one).
        return Figures(
            rows_in=result.raw_rows,
            rows_out=result.clean_rows,
            rows_quarantined=result.quarantined,
            details={
                "fixed_rows": result.fixed_rows,
                "warnings": result.warnings,
                "parents_arrived": result.parents_arrived,
                "corrected": result.superseded,
                "healed": result.mode,  # incremental: only `checked` rows were checked, against clean
                "checked": result.checked,
                "checked_again": result.checked_again,
                "why": result.why,
            },
        )


def resolution_digest(table: str) -> str:
    """The table's active resolutions (their ids): a new or revoked one makes the table's heal run again."""
    return resolutions.active_digest(table)


def quality_record(conn, result: heal.HealResult, run_id: str) -> None:
    """Store the run's per-table and per-rule figures (kept for every run: quality over time)."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM quality.table_results WHERE run_id = %s AND table_name = %s", (run_id, result.table))
        cur.execute("DELETE FROM quality.rule_results WHERE run_id = %s AND table_name = %s", (run_id, result.table))
        cur.execute(
            """INSERT INTO quality.table_results
                       (run_id, table_name, raw_rows, clean_rows, quarantined, valid_before, fixed_rows, replaced)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                run_id,
                result.table,
                result.raw_rows,
                result.clean_rows,
                result.quarantined,
                result.valid_before,
                result.fixed_rows,
                result.superseded,
            ),
        )
        execute_values(  # one statement for all the rules (executemany: one per rule, 50 round trips)
            cur,
            """INSERT INTO quality.rule_results (run_id, table_name, rule_id, description, severity,
                           action, rows_checked, violations, fixed, quarantined, flagged) VALUES %s""",
            [
                (
                    run_id,
                    result.table,
                    r.rule_id,
                    r.description,
                    r.severity,
                    r.action,
                    result.raw_rows,
                    r.violations,
                    r.fixed,
                    r.quarantined,
                    r.flagged,
                )
                for r in result.rules
            ],
        )


class Transform(PipelineTask):
    """clean.* -> analytics.*: the views the business reads, built from pipeline/sql/analytics, and the claims
    forecast made from them (pipeline/forecast.py), in one transaction."""

    def requires(self):
        return [HealTable(name) for name in TABLES]

    def marker_id(self) -> str:
        return "transform"

    def complete(self) -> bool:
        # Luigi looks below a complete task for nothing: a staged delivery (its heal refused it, then its file was
        # put back as the marker knew it) would wait there for ever, reported as not yet published. A part file no
        # load could read keeps the run failing (after_commit) until it is fixed or removed.
        return super().complete() and not staged_tables() and not unreadable_parts()

    def after_commit(self) -> None:
        # The other parts are loaded, healed and in the analytics; the run still fails, in one line naming the file.
        failures = unreadable_parts()
        if failures:
            raise arrow_values.SourceError(part_failures.failure_line(failures), part_failures.HINT)

    @_once_per_look
    def fingerprint(self) -> str:
        return combine(
            *[t.fingerprint() for t in self.requires()], analytics.fingerprint(), markers.source_digest(forecast)
        )

    def work(self, conn, run_id: str) -> Figures:
        importing = []

        def decided(full: bool) -> None:
            # statsmodels (half a second) imported while the database works, when the forecast will be made again.
            with conn.cursor() as cur:
                if full or forecast.refit_likely(cur, analytics_changes.new_months(cur, "claims")):
                    importing.append(forecast.preload())

        # After incremental heals, the keyed tables take in only the changed policies, customers and months.
        off = None if config.incremental() else "incremental builds are off ([sources] incremental)"
        built = analytics.refresh(conn, run_id, markers.forced(conn, self.marker_id()) or off, decided)
        for thread in importing:
            thread.join()
        stored = forecast.store(conn, markers.source_digest(forecast))
        counts = built.counts | {"claims_forecast": stored.rows}
        how: dict[str, object] = {"built": "full", "why": built.full}
        if built.full is None:  # the changed keys, the keyed tables that added the new rows' sums, or why none could
            how = {"built": "incremental", "refreshed": built.keys, "added": built.added}
            how |= {"not_additive": built.not_additive} if built.not_additive else {}
            how["forecast"] = "made" if stored.made else "kept"  # kept: no whole month it learns from changed
        return Figures(rows_out=sum(counts.values()), details={"views": counts} | how)


class Backup(PipelineTask):
    """Transform's warehouse -> backups/<database>-<UTC time>/ (pg_dump archive + manifest), then retention."""

    def requires(self):
        return Transform()

    def marker_id(self) -> str:
        return "backup"

    def complete(self) -> bool:
        return super().complete() and not staged_tables()  # as Transform's

    @_once_per_look
    def fingerprint(self) -> str:
        return self.requires().fingerprint()  # a new backup whenever what the warehouse holds may have changed

    def begin(self, conn) -> None:
        writelock.in_task(conn)  # pg_dump reads the warehouse in a snapshot of its own: nothing else to lock

    def work(self, conn, run_id: str) -> Figures:
        made = backup.create()
        return Figures(
            rows_out=made.total_rows,
            details={"backup": made.name, "bytes": made.size, "tables": len(made.manifest["tables"])},
        )


def main_task() -> PipelineTask:
    """What a run builds: Transform, followed by a Backup when luigi.cfg [backups] after_run is true."""
    return Backup() if config.backups().after_run else Transform()


__all__ = ["LoadTable", "HealTable", "Transform", "Backup", "PipelineTask", "main_task"]
