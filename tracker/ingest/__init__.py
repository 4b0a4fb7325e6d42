"""The ingest job: web archives and feed files through the pipeline, in one process or several."""
