"""Schemathesis hooks for the API fuzz test (loaded by ``SCHEMATHESIS_HOOKS=fuzz_hooks``).

A batch body (``application/x-naiad-batch``) is binary: the document cannot describe it, so it is drawn
here — random bytes, real batches of random operations, and real batches with bytes flipped, cut or
appended (what a broken proxy or a hostile client sends).
"""

from __future__ import annotations

import os
import uuid

import hypothesis.strategies as st
import schemathesis

from naiad.core import ops as O
from naiad.store import wire
from strategies import op_lists

_CONTAINERS = os.environ.get("NAIAD_FUZZ_CONTAINERS", uuid.uuid4().hex).split(",")
_text = st.text(max_size=40)


@st.composite
def _batches(draw: st.DrawFn) -> bytes:
    # mostly the runs the test made (so the store itself meets the ops), sometimes one that is not there
    container = draw(st.one_of(st.sampled_from(_CONTAINERS), st.just(uuid.uuid4().hex), _text))
    batch = O.Batch(container, draw(st.one_of(st.just("fuzz-writer"), _text)), draw(st.integers(-5, 2**40)),
                    draw(op_lists()))
    try:
        raw = O.encode_batch(batch)
    except Exception:  # an op the encoder refuses: the client could never send it; send noise instead
        return draw(st.binary(max_size=64))
    damage = draw(st.sampled_from(["none", "flip", "cut", "append"]))
    if damage == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:]
    elif damage == "cut":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif damage == "append":
        raw += draw(st.binary(min_size=1, max_size=16))
    return raw


schemathesis.openapi.media_type(wire.BATCH_MEDIA_TYPE, st.one_of(st.binary(max_size=512), _batches()))


_PROJECT = os.environ.get("NAIAD_FUZZ_PROJECT", "fuzz")


@schemathesis.hook
def flatmap_path_parameters(_ctx: schemathesis.HookContext, params: dict | None) -> st.SearchStrategy:
    """Half the time a container in the path is one that exists: the route goes past "not found"."""
    if params and "uuid" in params:
        return st.sampled_from([params, *({**params, "uuid": c} for c in _CONTAINERS)])
    return st.just(params)


@schemathesis.hook
def flatmap_query(_ctx: schemathesis.HookContext, query: dict | None) -> st.SearchStrategy:
    """Half the time a project (or container) named in the query is one that exists."""
    if not query:
        return st.just(query)
    real = dict(query)
    if "project" in real:
        real["project"] = _PROJECT
    if "uuid" in real:
        real["uuid"] = _CONTAINERS[0]
    if "container" in real:
        real["container"] = _CONTAINERS[0]
    return st.sampled_from([query, real])


@schemathesis.hook
def flatmap_body(_ctx: schemathesis.HookContext, body: object) -> st.SearchStrategy:
    """Half the time a project named in a JSON body is one that exists."""
    if isinstance(body, dict) and "project" in body:
        return st.sampled_from([body, {**body, "project": _PROJECT}])
    return st.just(body)
