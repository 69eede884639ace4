"""The one rule every integration follows: a logging problem never stops the training."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Guard:
    """Runs logging actions; the first failure is reported on stderr once, all are swallowed.

    >>> guard = Guard("Keras callback")
    >>> guard(lambda: run["loss"].append(x))
    """

    def __init__(self, what: str, goes_on: str = "training goes on") -> None:
        self.what = what
        self.goes_on = goes_on
        self.failures = 0

    def __call__(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:
            self.failures += 1
            if self.failures == 1:
                print(f"[naiad] {self.what} could not log ({exc}); {self.goes_on}.", file=sys.stderr)
