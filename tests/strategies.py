"""Hypothesis strategies for what clients send naiad: field paths, texts, values, file names, batches.

Shared by the property tests (tests/test_fuzz_store.py) and the API fuzzing hooks (tests/fuzz_hooks.py).
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import numpy as np

from naiad.core import fields as F
from naiad.core import ops as O

# every code point, lone surrogates and NUL included (what os.fsdecode makes of a non-UTF-8 name)
any_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
# segments made to hit the path rules: ".", "..", empty, absolute, backslashes, controls, sys/
path_piece = st.one_of(any_text, st.sampled_from(["", ".", "..", "a", "sys", "owner", "\\", "\x00", "é", "\udcff"]))
paths = st.one_of(any_text, st.lists(path_piece, min_size=1, max_size=5).map("/".join),
                  st.sampled_from(["sys/owner", "a/../b", "x/.", "/abs", "ok/path", "a//b/", "  "]))

atoms = st.one_of(
    st.tuples(st.just(F.FLOAT), st.floats(allow_nan=True, allow_infinity=True)),
    st.tuples(st.just(F.INTEGER), st.integers(-(2**70), 2**70)),
    st.tuples(st.just(F.STRING), any_text),
    st.tuples(st.just(F.BOOLEAN), st.booleans()),
    st.tuples(st.just(F.DATETIME), st.floats(-1e12, 1e12)))


@st.composite
def op_lists(draw: st.DrawFn, path: st.SearchStrategy[str] = paths) -> list[tuple[Any, ...]]:
    """One to four operations of the kinds a training run writes, with paths and values drawn to break."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 4))):
        where = draw(path)
        kind = draw(st.sampled_from(["assign", "points", "strings", "add", "delete", "clear"]))
        if kind == "assign":
            ftype, value = draw(atoms)
            ops.append((O.ASSIGN, where, ftype, value))
        elif kind == "points":
            n = draw(st.integers(0, 5))
            steps = np.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)), dtype=float)
            values = np.array(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n,
                                            max_size=n)), dtype=float)
            ops.append((O.POINTS, where, F.FLOAT_SERIES, steps, steps + 1.7e9, values))
        elif kind == "strings":
            texts = draw(st.lists(any_text, min_size=1, max_size=3))
            steps = np.arange(len(texts), dtype=float) + draw(st.integers(-3, 3))
            ops.append((O.POINTS, where, F.STRING_SERIES, steps, steps + 1.7e9, texts))
        elif kind == "add":
            ops.append((O.ADD, where, draw(st.lists(any_text, max_size=3))))
        elif kind == "delete":
            ops.append((O.DELETE, where))
        else:
            ops.append((O.CLEAR, where))
    return ops
