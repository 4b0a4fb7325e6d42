"""Reader: feed and page bytes in, parsed feeds and articles out (fetch, parse, archives, OPML, pages)."""
