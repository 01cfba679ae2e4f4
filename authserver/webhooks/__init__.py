"""Signed webhooks (Standard Webhooks): the domain writes events to an outbox, a worker delivers them.

``catalogue`` names the events, ``outbox`` records them in the change's transaction, ``subscriptions`` manages who
receives what, ``destinations`` refuses URLs that point inside the network, ``signing`` signs, ``deliveries`` keeps
the log and the retry schedule, ``transport`` sends one request, ``worker`` runs it all, ``expiring`` finds tokens
about to stop.
"""
