"""Shared plumbing of the console scripts: one clear error line and a non-zero exit for user errors."""
from __future__ import annotations

import functools
import sys
from typing import Callable

from unisegdiff_pipeline.errors import USDError


def user_errors_exit(command: str) -> Callable[[Callable[..., int | None]], Callable[..., int]]:
    """Decorate a CLI main so that a USDError prints one line to stderr and exits with status 2."""

    def decorate(main: Callable[..., int | None]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapper(*args, **kwargs) -> int:
            try:
                rc = main(*args, **kwargs)
            except USDError as e:
                print(f"{command}: error: {e}", file=sys.stderr)
                sys.exit(2)
            except KeyboardInterrupt:
                print(f"{command}: interrupted", file=sys.stderr)
                sys.exit(130)
            sys.exit(rc or 0)

        return wrapper

    return decorate
