"""Insurance data pipeline: Parquet -> raw -> clean -> analytics in PostgreSQL, orchestrated by Luigi."""
from . import console, history, lifeline, markers
from .tasks import Backup, HealTable, LoadTable, PipelineTask, Transform

history.register(PipelineTask)
markers.run_id()  # fixed in the parent process, so that the workers Luigi forks share it
lifeline.install()  # forked workers die with this process
console.hook_luigi_command()  # `luigi --module pipeline ...`: one line per failure, the rest in the run's log

__all__ = ["LoadTable", "HealTable", "Transform", "Backup"]
