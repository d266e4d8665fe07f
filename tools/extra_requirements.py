"""Print the requirements of one extra of the installed asyncwebsockets.

``python tools/extra_requirements.py test`` writes one requirement a line,
with the extra's own marker removed and the others kept, ready for
``pip install -r``.  tools/build_wheels.sh uses it to give a venv the test
dependencies of exactly the wheel or sdist installed there, without
building or installing the package a second time.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import requires


def extra_requirements(extra: str, distribution: str = "asyncwebsockets") -> list[str]:
    """The requirements ``distribution`` declares for ``extra``."""
    pattern = re.compile(r"""extra\s*==\s*["']""" + re.escape(extra) + r"""["']""")
    found: list[str] = []
    for line in requires(distribution) or []:
        requirement, _, marker = line.partition(";")
        if not pattern.search(marker):
            continue
        # The metadata writes "<other markers> and extra == '...'" or the
        # extra's marker alone.
        rest = pattern.sub("", marker).strip()
        rest = re.sub(r"\s*\band\s*$", "", rest).strip()
        found.append(f"{requirement.strip()}; {rest}" if rest else requirement.strip())
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: extra_requirements.py EXTRA\n")
        return 2
    lines = extra_requirements(argv[1])
    if not lines:
        sys.stderr.write(f"no requirements for extra {argv[1]!r}\n")
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
