"""The harness's console: progress and messages on stderr, so stdout stays for results."""

from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)


def say(label: str, text: str) -> None:
    """`label` (markup) and `text` (as it is, a folder with `[` in its name too) on one
    line, however long: not wrapped at the console's width (80 columns when stderr is
    not a terminal)."""
    console.print(f"{label} {escape(text)}", soft_wrap=True, highlight=False)
