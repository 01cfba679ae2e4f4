"""The hot path's shortcuts, in one room (README.md: each one's measured reason, and every private API of a
dependency they rely on with the test that catches its change).

    direct.py           POST /oauth/introspect answered from WSGI through authlib's endpoint, in front of Flask
    fair_gate.py        that path's Python work admitted in arrival order; the step-out handed down as ``wait``
    prepared_reads.py   the per-request SELECTs compiled once, run on kept autocommit connections
    paired_reads.py     two of those SELECTs in one round trip (PostgreSQL), their rows read ahead for one request
    introspection_prefetch.py  an introspection's client row and token state read ahead together, keys guessed
    granian_workers.py  a step in each granian worker after it drains (granian's private worker spawner)
    log_records.py      log records without caller file/line and process names (logging's private ``_srcfile``)

Nothing is imported here: ``prepared_reads`` and ``fair_gate`` sit below the domain (tokens and clients use them),
``direct`` sits above the protocol surface; importing the package must not pull one layer into the other.
"""
