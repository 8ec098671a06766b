"""Insurance data pipeline: Parquet -> raw -> clean -> analytics in PostgreSQL, orchestrated by Luigi."""
from . import history
from .tasks import HealTable, LoadTable, PipelineTask, Transform

history.register(PipelineTask)

__all__ = ["LoadTable", "HealTable", "Transform"]
