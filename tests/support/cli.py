"""The `parley` console script run as a user would: their own config file, so their own token."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARLEY = Path(sys.executable).with_name("parley")


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class User:
    """One person at a terminal: their own config file, so their own token."""

    stack: str
    config: Path

    def __call__(self, *args: str, timeout: float = 60) -> Run:
        env = {
            **os.environ,
            # this worktree's code, whichever checkout installed the console script
            "PYTHONPATH": f"{ROOT / 'layers/parley/python'}:{ROOT / 'clients/python'}",
            "PARLEY_CONFIG": str(self.config),
            "PARLEY_URL": self.stack,
        }
        env.pop("PARLEY_TOKEN", None)
        done = subprocess.run(
            [str(PARLEY), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.code == 0, (args, done.err)
        return done.out
