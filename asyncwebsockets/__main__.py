"""``python -m asyncwebsockets``: the command-line tool (see :mod:`asyncwebsockets.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m asyncwebsockets"))
