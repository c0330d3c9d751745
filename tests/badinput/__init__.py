"""The bad-input suite: every task refuses bad input in one ``error:`` and one ``hint:`` line,
with the documented exit code, no traceback, and nothing changed."""
