"""tracker: who published this first, and who copied it from whom.

A syndication-feed deduplication and provenance tracker: it reads feed captures,
fingerprints every article with MinHash, finds republished copies across feeds and
records in SQL the original publisher and the chain of republications.
"""

__version__ = "0.1.0"
