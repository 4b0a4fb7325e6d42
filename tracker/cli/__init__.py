"""The `tracker` command: a thin shell over the Python API.

Every command is documented with an example in its help. Errors the tracker expects
(`TrackerError`) and operational failures (database gone, disk full) become one line
on stderr and a documented exit status (`tracker.errors`); -vv adds the traceback.
Everything printed goes through `tracker.terminal`, which escapes control characters
that feed data may carry.

The commands live in the modules of this package, grouped by what they do: ingest,
daemon (run, poll, status, alerts, upgrade), queries (origin, stats, stories, copies, publishers,
find), exports (feeds, export, graph, report) and demo. The `tracker` group itself,
its global options and error handling, and the helpers they share are in `tracker.cli.base`.
"""

# The commands register themselves on `main` when their modules are imported.
from tracker.cli import daemon, demo, exports, ingest, queries  # noqa: F401
from tracker.cli.base import main

__all__ = ["main"]
