"""This process's id, without a system call per use.

glibc's ``getpid`` asks the kernel every time, and the hot path asked it about ten times per introspection (the
connection pool's fork check, the request id's prefix, the access log, each shared metric's write). The id only
changes in a child made by ``fork``, and ``os.register_at_fork`` renews it there before any of the child's code
runs; children made by ``subprocess`` exec a new program and start from this module's import again.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def current_pid() -> int:
    return _pid


def _renew() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_renew)
