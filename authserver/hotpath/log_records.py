"""Log records without the details no line of ours prints.

For every record, the logging module walks the stack for the caller's file and line (``logging._srcfile``), and
looks up the thread and process names. Our JSON lines carry none of them; measured in docs/performance.md, the
stack walk alone was a visible part of an introspection's access line. The logging HOWTO ("Optimization") names
these module attributes as the way to switch them off; ``_srcfile`` is private all the same, so this is the only
place that sets it (tests/unit/test_private_apis.py checks it is still what ``findCaller`` consults).
"""

from __future__ import annotations

import logging


def stop_collecting_record_details() -> None:
    """Records get no caller file and line, thread, process or multiprocessing names (the process keeps them off)."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
