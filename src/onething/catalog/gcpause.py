"""Pause Python's cyclic garbage collector while a catalog is read and checked.

Loading a province-scale catalog allocates millions of long-lived objects (composed YAML nodes, plain data,
pydantic models) and creates no reference cycles worth collecting. With the collector on, every generation-2
collection walks all of them again as the heap grows — measured on 1 000 things / 5 000 procedures, that was
two thirds of load + validate (2.1–2.4 s of 2.4 s → 0.8 s with the collector paused). The collector is
paused, not switched off: it runs again when the outermost pause ends, and collects whatever cycles were made.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block; nested and concurrent pauses end with the last one."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
