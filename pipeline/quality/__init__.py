"""Data quality: Cerberus field rules compiled to SQL, the rule catalog and healing."""
