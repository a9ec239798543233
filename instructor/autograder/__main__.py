"""``python -m instructor.autograder OUT.zip``: build the Gradescope autograder (see build.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from instructor.autograder.build import BuildError, build_zip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.autograder",
                                     description="Build the zip to upload as a Gradescope programming "
                                                 "assignment's autograder (docs/gradescope.md).")
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write")
    arguments = parser.parse_args(argv)
    try:
        path = build_zip(arguments.out)
    except BuildError as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return 2
    print(f"autograder written to {path}: upload it in Gradescope under Configure Autograder (docs/gradescope.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
