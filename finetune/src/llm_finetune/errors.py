"""Errors the toolkit reports to the user: a message, no traceback, exit code 2."""


class ToolkitError(Exception):
    exit_code = 2
