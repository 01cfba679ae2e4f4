"""The admin API's blueprint. Every view is one unit of work: the request commits all it did, or (when the view
raises, a domain error included) none of it, before the problem document is rendered."""

from __future__ import annotations

import functools

from flask import Blueprint

from ..unit_of_work import unit_of_work


def _in_unit_of_work(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with unit_of_work():
            return view(*args, **kwargs)

    return wrapper


class UnitOfWorkBlueprint(Blueprint):
    """A blueprint whose views each run in one ``unit_of_work`` (no view commits or rolls back by hand)."""

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options):
        if view_func is not None:
            view_func = _in_unit_of_work(view_func)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


bp = UnitOfWorkBlueprint("admin_api", __name__)
