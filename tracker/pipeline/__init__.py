"""The pipeline: one capture (or article page) in; items, versions, matches and decisions handed to the store."""
