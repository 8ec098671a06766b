"""Insurance data pipeline: Parquet -> raw -> clean -> analytics in PostgreSQL, orchestrated by Luigi."""
from . import history, markers
from .tasks import Backup, HealTable, LoadTable, PipelineTask, Transform

history.register(PipelineTask)
markers.run_id()  # fixed in the parent process, so that the workers Luigi forks share it

__all__ = ["LoadTable", "HealTable", "Transform", "Backup"]
