"""The two kinds of failure a user can meet, each with a one-line message that teaches.

``UsageError`` stops the whole command (exit 2); ``InputError`` fails one input, which is
recorded in the audit while the run goes on (exit 1 at the end).
"""


class UnderstudyError(Exception):
    """Base class: the message is shown to the user as one line, never a traceback."""


class UsageError(UnderstudyError):
    """A wrong argument, option or setup: which one, what was given, what is allowed."""


class InputError(UnderstudyError):
    """One input cannot be processed: the file and the reason."""


class MissingDependency(UsageError):
    """An optional part is not installed; the message names the extra or package to install."""

    def __init__(self, what: str, install: str):
        super().__init__(f"{what} is not installed; install it with: {install}")


def printable(text: object) -> str:
    """``text`` safe to print as (part of) one line: control characters (a newline in a file
    name could forge a second, fake line) and the surrogate escapes of file names that are
    not valid UTF-8 are shown as Python escapes (``\\n``, ``\\x1b``, ``\\udcff``)."""
    out = []
    for char in str(text):
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 \
                or char in "\u2028\u2029":
            out.append(repr(char)[1:-1] if char != "'" else char)
        else:
            out.append(char)
    return "".join(out)
