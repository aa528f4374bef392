"""``parley``: the command line. Exit codes: 0 done, 1 usage, 2 refused by the server (its error
printed), 3 the server cannot be reached."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from parley_client.cli import commands as _builtin  # noqa: F401  (registers the built-in commands)
from parley_client.cli.context import Context, UsageError
from parley_client.cli.registry import REGISTRY, Registry, command, load_plugins
from parley_client.errors import ApiError, LiveError, UnreachableError

__all__ = ["EXIT_REFUSED", "EXIT_UNREACHABLE", "EXIT_USAGE", "command", "main"]

EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(registry: Registry = REGISTRY) -> argparse.ArgumentParser:
    parser = _Parser(prog="parley", description="Parley from the command line.")
    parser.add_argument("--url", help="the stack's base URL (default: $PARLEY_URL, else the last login's)")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    groups: dict[str, argparse._SubParsersAction[_Parser]] = {}
    for name in sorted(registry.commands):
        spec = registry.commands[name]
        words = name.split()
        where = top
        if len(words) == 2:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=registry.groups.get(words[0], ""))
                groups[words[0]] = group.add_subparsers(
                    dest="subcommand", metavar="SUBCOMMAND", required=True, parser_class=_Parser
                )
            where = groups[words[0]]
        sub = where.add_parser(words[-1], help=spec.help, description=spec.help)
        spec.configure(sub)
        sub.set_defaults(run=spec.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    load_plugins()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a usage error (1)
        return int(done.code or 0)
    try:
        return int(args.run(Context.of(args.url), args) or 0)
    except UsageError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"parley: refused: {exc.status} {exc.code}: {exc.message}", file=sys.stderr)
        for problem in exc.fields:
            print(f"  {problem.get('field', '')}: {problem.get('problem', problem)}", file=sys.stderr)
        return EXIT_REFUSED
    except LiveError as exc:
        print(f"parley: refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except UnreachableError as exc:
        print(f"parley: cannot reach {args.url or 'the server'}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `parley history CHAT | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
