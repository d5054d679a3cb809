"""The one check for names that become folder or file names (dataset, task, case, plans, data identifier)."""
from __future__ import annotations

import re
from typing import Callable

from unisegdiff_pipeline.errors import USDError

# letters, digits, '_', '-' and inner dots; never a separator, never '.' or '..', never hidden
_PLAIN = re.compile(r"[A-Za-z0-9_\-](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_\-])?")


def is_plain_name(value: object) -> bool:
    """True when `value` is a string usable as one path component that stays inside its folder."""
    return isinstance(value, str) and bool(_PLAIN.fullmatch(value)) and ".." not in value


def check_plain_name(value: object, what: str, where: str = "") -> str:
    """Return `value` if it is a plain name, else a USDError naming it, where it came from and the rule."""
    if not is_plain_name(value):
        raise USDError(f"{what} {value!r}{' in ' + where if where else ''} is not a plain name: use letters, "
                       f"digits, '_', '-' and inner dots only (no '/', no '..', no leading dot)")
    return value


def plain_name_argument(what: str) -> Callable[[str], str]:
    """argparse `type=` that accepts only plain names (one clear usage error otherwise)."""
    import argparse

    def parse(text: str) -> str:
        try:
            return check_plain_name(text, what)
        except USDError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = what.replace(" ", "_")
    return parse
