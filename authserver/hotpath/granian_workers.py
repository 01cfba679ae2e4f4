"""A step in each granian worker process after it has drained: write what that process buffered.

granian runs a worker's serving loop in ``Server._spawn_wsgi_worker``, a private static method that returns once the
worker has stopped serving (in-flight requests finished). It is the only place, in the worker process, that runs
after the last request and before the process exits without ``atexit``: without it, the activity flusher's and the
access log's buffers of a stopping worker are lost. The override is this module's only reach into granian; the
signature it forwards is checked by tests/unit/test_private_apis.py.
"""

from __future__ import annotations

from granian.server import Server


class DrainingWorkerServer(Server):  # type: ignore[misc, valid-type]  # granian picks Server at import (MP or MT)
    """granian's pre-fork server; a subclass's ``after_drain`` runs in each worker once it has stopped serving."""

    @staticmethod
    def after_drain() -> None:
        """What a worker does after its last request; nothing here."""

    @classmethod
    def _spawn_wsgi_worker(cls, *args, **kwargs) -> None:
        try:
            Server._spawn_wsgi_worker(*args, **kwargs)  # returns once this worker has stopped serving
        finally:
            cls.after_drain()
