"""Answers: what users ask of the provenance database, as rows, text, files and pictures."""
