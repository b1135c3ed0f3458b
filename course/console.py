"""Show learners' text on the teacher's console without letting it drive the terminal.

Notes, error messages and even student ids printed by ``course grade`` can carry what a
learner wrote (an exception message, a kernel's last words, a cell id). A terminal obeys
the control characters in such text: ``ESC [2J`` clears the screen, ``ESC ]52`` writes the
clipboard, a carriage return overwrites the line with a fake one. :func:`printable`
escapes them, so the teacher reads them as text.

Example::

    >>> printable("done\\x1b[2J\\rall good")
    'done\\\\x1b[2J\\\\rall good'
"""

from __future__ import annotations

import re

# C0 controls (tab and newline included: one result is one line), DEL, C1 controls, and
# the Unicode bidirectional overrides that reorder what the terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``str(text)`` with every control character written as an escape (``\\x1b``, ``\\n``).

    >>> printable("a\\tb\\u202ec"), printable(3)
    ('a\\\\tb\\\\u202ec', '3')
    """

    def escape(match: re.Match) -> str:
        char = match.group()
        if char in _NAMED:
            return _NAMED[char]
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _CONTROL.sub(escape, str(text))
