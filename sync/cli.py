"""The `rfmsync` command line. Exit codes: 0 ok, 1 failed run, 2 bad usage, config or input."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from rfmsync import __version__
from rfmsync.core.errors import ConfigError, InputError, RfmsyncError
from rfmsync.sync import daemon, info_cmds, report_cmd, run_cmds, score_cmd

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rfmsync",
        description="Score customers on Recency, Frequency and Monetary value and put them in segments.",
    )
    parser.add_argument("--version", action="version", version=f"rfmsync {__version__}")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log detail on stderr (default WARNING; the daemon logs at INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    score_cmd.add_parser(commands)
    run_cmds.add_parsers(commands)
    daemon.add_parser(commands)
    info_cmds.add_parsers(commands)
    report_cmd.add_parser(commands)
    return parser


def _global_options_first(argv: Sequence[str]) -> list[str]:
    """`rfmsync sync --log-level DEBUG` as `rfmsync --log-level DEBUG sync`: global options work after
    the command too."""
    args, moved = list(argv), []
    i = 0
    while i < len(args):
        if args[i] == "--log-level" and i + 1 < len(args):
            moved += args[i:i + 2]
            del args[i:i + 2]
        elif args[i].startswith("--log-level="):
            moved.append(args.pop(i))
        else:
            i += 1
    return moved + args


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # urllib3 logs every request line with its query string (tokens, emails) at DEBUG: never shown.
    # APScheduler says "Added job", "Running job" at INFO for every run: only its warnings.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_global_options_first(sys.argv[1:] if argv is None else argv))
    level = "INFO" if args.command == "daemon" and args.log_level == "WARNING" else args.log_level
    configure_logging(level)
    try:
        code: int = args.run(args)
        return code
    except (ConfigError, InputError) as exc:
        print(f"rfmsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RfmsyncError as exc:
        print(f"rfmsync: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("rfmsync: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
