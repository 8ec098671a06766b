"""The command line, `python -m pipeline`: main (the entry and the run), ops (runs, status, scheduler, report),
backup (backup, bundle)."""
