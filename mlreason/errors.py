"""The one exception type for bad user input.

Library code raises `UserError("what is wrong; how to fix it")`; the CLI prints it on one line
and exits with code 2 (no traceback unless `--debug`).
"""


class UserError(Exception):
    """Bad input from the user: a one-line message naming the problem and the fix."""
