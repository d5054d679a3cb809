"""The one exception type for problems the user can fix (bad input, missing folders, wrong options)."""


class USDError(Exception):
    """A user-facing error: the message names the file or setting at fault and how to fix it."""
