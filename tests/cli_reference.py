"""docs/cli.md, the command reference, written from the click definitions themselves, so
that it says exactly what `tracker COMMAND --help` says and reads on any Markdown viewer.

    .venv/bin/python -m tests.cli_reference     # after changing a command's options or help
"""

from __future__ import annotations

from pathlib import Path

import click.formatting
from mkdocs_click._docs import make_command_docs

from tracker.cli import main

PATH = Path(__file__).parents[1] / "docs" / "cli.md"
_HEAD = """# Command reference

Written from the command-line definitions themselves (`tracker/cli`) by
`python -m tests.cli_reference`, so it says exactly what `tracker COMMAND --help` says (a
test fails when the two differ). What the commands are for, with examples:
[Commands](commands.md); their exit status: [Exit status](commands.md#exit-status).

"""


def reference() -> str:
    """The command reference as Markdown, as a terminal 80 columns wide shows the help."""
    forced, click.formatting.FORCED_WIDTH = click.formatting.FORCED_WIDTH, 80
    try:
        lines = list(make_command_docs("tracker", main, depth=1, style="plain", list_subcommands=True))
    finally:
        click.formatting.FORCED_WIDTH = forced
    return _HEAD + "\n".join(line.rstrip() for line in lines).strip() + "\n"


if __name__ == "__main__":
    PATH.write_text(reference(), encoding="utf-8")
    print(f"wrote {PATH}")
