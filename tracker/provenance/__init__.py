"""Provenance: the facts about items and the pure decisions of who is the original and who copied whom."""
