"""The HTTP suite shares the unit suite's cheap app (ES256 by default, SQLite from a migrated copy), and adds one
world per module and backend for the long matrices of refused requests.

A refused request changes nothing, so building a fresh app and world for each of dozens of bad inputs buys no
isolation; it only costs time. Tests that change state keep using the per-test ``app``/``world`` fixtures.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass

import pytest

from authserver import create_app
from authserver.clock import FrozenClock
from authserver.database import prepare
from authserver.extensions import db
from tests import factories
from tests.conftest import BACKENDS, START
from tests.support.config import make_app_config
from tests.support.databases import ThrowawayPostgres, migrated_postgres_template, postgres_available
from tests.unit.conftest import (  # noqa: F401  (fixtures)
    app_config,
    migrated_sqlite_template,
    restore_rows,
    world,
    world_template,
)


@dataclass
class Shared:
    app: object
    client: object
    services: object
    clock: FrozenClock
    world: factories.World


@pytest.fixture(scope="session")
def migrated_postgres():
    """One migrated PostgreSQL database per test process, copied by each module's ``shared`` app."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    template = migrated_postgres_template()
    yield template
    template.drop()


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request, tmp_path_factory, migrated_sqlite_template, world_template):  # noqa: F811
    """An app with a world, built once per module and backend, for requests that must be refused."""
    tmp = tmp_path_factory.mktemp("shared")
    postgres = None
    if request.param == "sqlite":
        shutil.copyfile(migrated_sqlite_template, tmp / "shared.db")
        url = f"sqlite:///{tmp / 'shared.db'}"
    else:
        postgres = ThrowawayPostgres(template=request.getfixturevalue("migrated_postgres").name)
        url = postgres.url
    clock = FrozenClock(START)
    (tmp / "keys").mkdir(mode=0o700)
    for pem in world_template.keys_dir.glob("*.pem"):
        shutil.copy2(pem, tmp / "keys" / pem.name)
    app = create_app(make_app_config(tmp, url, AUTHSERVER_SIGNING_ALG="ES256"), clock=clock)
    prepare(app)
    services = app.extensions["authserver"]
    with app.app_context():
        restore_rows(world_template.rows)
    yield Shared(
        app=app, client=app.test_client(), services=services, clock=clock, world=copy.deepcopy(world_template.world)
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if postgres is not None:
        postgres.drop()
