"""The harness's console: progress and messages on stderr, so stdout stays for results."""

from rich.console import Console

console = Console(stderr=True)
