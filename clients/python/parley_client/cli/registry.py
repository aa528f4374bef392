"""The subcommand registry: a command is a name (``"ext enable"``), its arguments and a function.

Commands register with ``@command``; other packages add theirs (operator tools such as rebuild or
replay) through the ``parley.commands`` entry-point group: each entry point names a module, imported
before the parser is built, whose ``@command`` functions join the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parley_client.cli.context import Context

Run = Callable[["Context", argparse.Namespace], int | None]
Configure = Callable[[argparse.ArgumentParser], None]
ENTRY_POINTS = "parley.commands"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Run
    configure: Configure


@dataclass
class Registry:
    commands: dict[str, Command] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    def group(self, name: str, help: str) -> None:
        """A word that only leads to subcommands (``parley ext ...``)."""
        self.groups[name] = help

    def command(self, name: str, help: str, configure: Configure = lambda _: None) -> Callable[[Run], Run]:
        def register(run: Run) -> Run:
            if name in self.commands:
                raise ValueError(f"the command {name!r} is registered twice")
            self.commands[name] = Command(name, help, run, configure)
            return run

        return register


REGISTRY = Registry()
command = REGISTRY.command


def load_plugins() -> None:
    for entry in entry_points(group=ENTRY_POINTS):
        entry.load()
