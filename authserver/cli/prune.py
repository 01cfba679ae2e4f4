"""``authserver prune``: delete what the retention settings allow now (retention.py), or count it with --dry-run."""

from __future__ import annotations

import dataclasses

import click
from flask import current_app
from flask.cli import with_appcontext

from ..principals import OPERATOR
from ..retention import RetentionSettings, count_prunable, prune
from .base import OneLineCommand, emit, json_option, now, services


@click.command("prune", cls=OneLineCommand)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing. Default: delete.")
@json_option
@with_appcontext
def prune_command(dry_run, as_json):
    """Delete feed events, ended webhook deliveries, ended sessions and audit rows past AUTHSERVER_RETAIN_*."""
    settings = RetentionSettings.from_config(current_app.config)
    moment = now()
    if dry_run:
        counts = count_prunable(moment, settings)
    else:
        counts = prune(moment, settings, actor=OPERATOR)
        services().webhook_keys.remove_spent_keys(moment)
    verb = "would delete" if dry_run else "deleted"
    text = "\n".join(f"{verb} {count:>8} {kind}" for kind, count in counts.items())
    emit(as_json, {"dry_run": dry_run, "counts": counts, "retention": dataclasses.asdict(settings)}, text)
