"""The app's panels, one module each: overview, pipeline, data quality (with the quarantine), backups, settings."""
