"""Insurance data pipeline: Parquet -> raw -> clean -> analytics in PostgreSQL, orchestrated by Luigi."""

from .orchestration import console, history, lifeline, markers, scheduler
from .orchestration.tasks import Backup, HealTable, LoadTable, PipelineTask, Transform

history.register(PipelineTask)
markers.run_id()  # fixed in the parent process, so that the workers Luigi forks share it
lifeline.install()  # forked workers die with this process
console.hook_luigi_command()  # `luigi --module pipeline ...`: one line per failure, the rest in the run's log
scheduler.hook_luigi()  # no luigid answering on the configured local port: start one

__all__ = ["LoadTable", "HealTable", "Transform", "Backup"]
