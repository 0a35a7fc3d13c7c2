"""The interfaces people use: the ``mattefarm`` CLI (and, later, the REST API and dashboard)."""
