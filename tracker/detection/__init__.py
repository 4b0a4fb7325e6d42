"""Detection stages: an entry's text normalised, fingerprinted and cut into LSH bands; identity of articles."""
