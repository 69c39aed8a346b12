"""The exception types the CLI turns into exit codes.

Library code raises `UserError("what is wrong; how to fix it")`; the CLI prints it on one line
and exits with code 2 (no traceback unless `--debug`). `NonFiniteError` (a training loss,
gradient norm or weight became NaN/inf) exits with code 3, after nothing non-finite was saved.
"""


class UserError(Exception):
    """Bad input from the user: a one-line message naming the problem and the fix."""


class NonFiniteError(RuntimeError):
    """Training produced a non-finite value: one line naming the step and the quantity (exit code 3)."""
