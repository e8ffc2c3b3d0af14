"""``green-run``: every stage in one run folder, then the summary and the report."""
