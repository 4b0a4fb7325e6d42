"""The `tracker` group itself: its global options, its one-line errors and exit codes, and the
helpers its commands share (the config, --format, --since, --out, read-only sessions)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracker import __version__
from tracker.answers.output import FORMATS, counted
from tracker.config import Config, load_config
from tracker.errors import EXIT_FAILURES, EXIT_INTERNAL, EXIT_INTERRUPTED, InputError, TrackerError
from tracker.terminal import echo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

# Seconds between progress lines of a long ingest when no terminal shows a progress bar.
PROGRESS_SECONDS = 5.0
_VERBOSE = "tracker.verbose"
_LEVELS = ("warning", "info", "debug")
# A count past what SQL's integers hold is refused as usage here, not passed on to fail there.
COUNT = click.IntRange(min=0, max=2**31 - 1)
LIMIT = click.IntRange(min=1, max=2**31 - 1)
# Processes a command starts at most (each holds a database connection and ~150 MB).
WORKERS = click.IntRange(min=1, max=64)


def verbosity(ctx: click.Context) -> int:
    return int(ctx.meta.get(_VERBOSE, 0))


def _fail(ctx: click.Context, message: str, code: int) -> None:
    from tracker.redact import mask_credentials

    if verbosity(ctx) >= 2:
        echo(mask_credentials(traceback.format_exc().rstrip()), err=True)
    echo(f"tracker: {mask_credentials(message)}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """The `tracker` group: global options accepted after the command name too, one-line errors."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # Every command, however it is added, takes --config and -v after its name as well.
        cmd.params.extend(global_options())
        super().add_command(cmd, name)

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Usage errors in one line too, like every other error (click prints three)."""
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.UsageError as error:
            where = f"tracker {error.ctx.command_path.partition(' ')[2]}".strip() if error.ctx else "tracker"
            echo(f"tracker: error: {error.format_message()} (see `{where} --help`)", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            echo(f"tracker: error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.exceptions.Abort:
            echo("tracker: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        from tracker.store.database import as_store_error

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", EXIT_INTERRUPTED)
        except TrackerError as error:
            _fail(ctx, f"error: {error}", error.exit_code)
        except BrokenPipeError:
            # The reader went away (`tracker stats | head`): nothing to say, and no second error at exit.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_FAILURES)
        except Exception as error:
            store = as_store_error(error)
            if store is not None:
                _fail(ctx, f"error: {store}", store.exit_code)
            _fail(ctx, f"internal error: {type(error).__name__}: {error} (run with -vv for the traceback)", EXIT_INTERNAL)


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.obj = value
        ctx.find_root().obj = value


def _add_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    from tracker.logs import configure

    total = verbosity(ctx) + (value or 0)
    ctx.meta[_VERBOSE] = total
    if value or ctx.parent is None:
        configure("text", _LEVELS[min(total, 2)])


def global_options() -> list[click.Option]:
    return [
        click.Option(["--config", "config_file"], type=click.Path(dir_okay=False), expose_value=False,
                     callback=_set_config, help="Config file (TOML); may also come before the command name."),
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_add_verbose,
                     help="More log output (-vv for debug and tracebacks)."),
    ]


@click.group(cls=_Group)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="TRACKER_CONFIG", expose_value=False,
              callback=_set_config, is_eager=True, help="Config file (TOML). Default: $TRACKER_CONFIG, else ./tracker.toml.")
@click.option("-v", "--verbose", count=True, expose_value=False, callback=_add_verbose, help="More log output (-vv for debug).")
@click.version_option(__version__)
def main() -> None:
    """Who published this first, and who copied it from whom?

    tracker reads feed captures, finds republished copies across feeds and records
    the original of every story and the chain of republications in SQL.

    \b
    Options --config and -v go before or after the command name:
      tracker --config config/tracker.toml stats
      tracker stats --config config/tracker.toml

    \b
    Exit status: 0 done; 1 some captures, records or feeds failed (or status: unhealthy;
    or graph wrote DOT text, Graphviz missing, instead of the picture asked for);
    2 bad usage, input or config; 3 database or disk unavailable; 70 internal error;
    130 interrupted.
    """


def config_of(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


def global_args(ctx: click.Context) -> list[str]:
    """The global options of this command line, for the processes it starts (`--workers N`)."""
    args = ["--config", str(Path(ctx.obj).absolute())] if ctx.obj else []
    return args + ["-v"] * verbosity(ctx)


def require_postgresql(config: Config, workers: int) -> None:
    """`--workers N` (N > 1) needs PostgreSQL: SQLite has one writer and one daemon."""
    from tracker.store.database import is_postgresql

    if workers > 1 and not is_postgresql(config.database.url):
        raise click.UsageError("--workers above 1 needs a PostgreSQL database (SQLite runs one daemon and one writer)")


def found_text(count: int) -> str:
    """The change in the `republications` view, in words."""
    if count < 0:
        return f"{counted(-count, 'republication')} withdrawn"
    return f"{counted(count, 'republication')} found"


# -- helpers of the feeds, query and export commands (issue 8) ----------------------------------------
def format_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="table for people; json (one JSON object per line, keys as in the view) or csv for programs.",
    )(func)


def emit(text: str, fmt: str) -> None:
    if not text:
        return
    click.echo(text, nl=fmt != "csv")  # CSV rows end in \r\n already


def parse_since(value: str | None, option: str = "--since") -> datetime | None:
    from tracker.answers.questions import parse_when

    if value is None:
        return None
    try:
        return parse_when(value)
    except InputError as error:
        raise InputError(f"{option}: {error}") from None


def out_path(out: Path | None, option: str = "--out") -> Path | None:
    """An output path every command checks the same way before doing any work: its folder
    must exist: a typo is refused in one line (exit 2), never turned into a new tree of folders."""
    if out is None:
        return None
    parent = out.absolute().parent
    if not parent.is_dir():
        raise InputError(f"{option} {out}: folder {parent} does not exist")
    return out


def read_sessions(ctx: click.Context) -> sessionmaker[Session]:
    from tracker.store.database import open_reader

    # Every command of this section only reads: it never creates, upgrades or locks a database.
    return open_reader(config_of(ctx).database.url)

