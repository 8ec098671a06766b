"""What a load will stage: the readable part files of a table's source, its columns with their PostgreSQL and
copy-ready Arrow types (one schema unified over the parts), and the parts that failed, each with its one-line reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import sources
from .arrow_values import SourceError, copy_type, pg_type
from .tables import TableSpec


@dataclass
class ReadablePart:
    part: sources.Part
    file: pq.ParquetFile


@dataclass
class LoadPlan:
    """The parts to stream, in order; columns in load order (the spec's, then extras: file columns not in the spec,
    then Hive partition keys not in the spec); per column its PostgreSQL type and the Arrow type COPY is fed."""

    path: Path
    folder: bool
    parts: list[ReadablePart]
    names: list[str]
    pg_types: dict[str, str]
    arrow_types: dict[str, pa.DataType]
    extras: list[str]
    failed: list[tuple[sources.Part, str]] = field(default_factory=list)
    untyped: set[str] = field(default_factory=set)  # columns seen with nulls only so far


def plan_load(path: Path, data_dir: Path, spec: TableSpec, open_source) -> LoadPlan:
    """The plan for one file (any problem is the load's SourceError) or for a folder (a part that cannot be opened or
    whose columns do not fit the others' types is set aside with its reason; the rest load)."""
    if not sources.is_folder_source(path):
        file = open_source(path, spec)
        part = sources.Part(path, path.name, {})
        plan = LoadPlan(path, False, [ReadablePart(part, file)], [], {}, {}, [])
        _unify(plan, plan.parts[0], strict=True)
        return _ordered(plan, spec)
    plan = LoadPlan(path, True, [], [], {}, {}, [])
    found = sources.parts(path, data_dir)
    for part in found:
        try:
            file = open_source(part.path, spec, provided=set(part.partition), allow_empty=True)
            readable = ReadablePart(part, file)
            _unify(plan, readable, strict=False)
        except SourceError as exc:
            plan.failed.append((part, str(exc.args[0]).splitlines()[0]))
            continue
        plan.parts.append(readable)
    if not plan.parts:
        first = plan.failed[0][1]
        raise SourceError(f"{path}: none of its {len(found)} part files can be loaded (first: {first})")
    if sum(r.file.metadata.num_rows for r in plan.parts) == 0 and not plan.failed:
        raise SourceError(f"{path}: folder has no rows in any of its {len(found)} part files")
    return _ordered(plan, spec)


def _unify(plan: LoadPlan, readable: ReadablePart, strict: bool) -> None:
    """Add a part's columns to the plan's schema; a column whose PostgreSQL type differs from the parts before is a
    SourceError for this part (a column of nulls only takes the others' type)."""
    schema = readable.file.schema_arrow
    columns = [(f.name, f.type) for f in schema]
    columns += [(k, pa.string()) for k in readable.part.partition if k not in schema.names]
    seen = {}
    for name, arrow_type in columns:
        if pa.types.is_null(arrow_type):
            continue
        wanted, before = pg_type(arrow_type), None if name in plan.untyped else plan.pg_types.get(name)
        if before is not None and before != wanted and not strict:
            first = next(r.part.name for r in plan.parts if name in _column_names(r))
            raise SourceError(
                f"{readable.part.path}: column {name!r} is {wanted} here but {before} in {first}: "
                "its schema cannot be unified with the other part files'"
            )
        seen[name] = (wanted, copy_type(arrow_type))
    for name, (wanted, arrow) in seen.items():
        if name not in plan.pg_types or name in plan.untyped:
            plan.pg_types[name], plan.arrow_types[name] = wanted, arrow
            plan.untyped.discard(name)
    for name, _ in columns:
        if name not in plan.pg_types:  # nulls only, so far: text until a part says otherwise
            plan.pg_types[name], plan.arrow_types[name] = "text", pa.string()
            plan.untyped.add(name)
        if name not in plan.names:
            plan.names.append(name)


def _column_names(readable: ReadablePart) -> list[str]:
    return readable.file.schema_arrow.names + list(readable.part.partition)


def _ordered(plan: LoadPlan, spec: TableSpec) -> LoadPlan:
    extras = [n for n in plan.names if n not in spec.column_names]
    plan.names = spec.column_names + extras
    plan.extras = extras
    return plan
