"""Operators' commands on a deployed (or the local) stack: each a function and an argparse ``main``."""
