"""The process's long-lived objects, kept out of the garbage collector's way.

After start-up a server holds some 180,000 objects that live as long as it does: modules, the
app and its routes, the caches of SQLAlchemy and pydantic. CPython's full collection walks all
of them every time it runs, on whichever thread triggered it and holding the GIL: about 70 ms
on a 2-core machine, during which the event loop answers nothing and sends nothing. Full
collections come when the heap has grown by a quarter, so a big aggregated export, whose
groups grow the heap, brings several of them. `gc.freeze()` moves the start-up objects where
the collector never looks; what is created later is collected as usual.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Call once the process has started (imports done, app built), before it serves."""
    gc.collect()
    gc.freeze()
