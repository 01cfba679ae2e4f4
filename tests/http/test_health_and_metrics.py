"""Health, readiness and Prometheus metrics."""

import pytest

from authserver import create_app
from tests.factories import basic
from tests.support.config import make_app_config


def test_healthz_answers_ok(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_database_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"] == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",  # nothing listens on port 1
        "sqlite:////nonexistent-directory/authserver.db",  # cannot be opened
    ],
)
def test_readyz_is_503_when_database_is_unreachable(tmp_path, url):
    app = create_app(make_app_config(tmp_path, url))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("unavailable")


def test_metrics_count_introspections_by_result_and_lifecycle_actions(client, world):
    client.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers)
    client.post("/oauth/introspect", data={"token": "garbage"}, headers=world.rs_headers)
    client.post("/oauth/introspect", data={"token": "garbage"}, headers=basic("nobody", "wrong"))
    text = client.get("/metrics").get_data(as_text=True)
    for result in ("active", "inactive", "refused"):
        assert f'authserver_introspections_total{{result="{result}"}}' in text
    assert 'authserver_lifecycle_actions_total{action="token.generated"}' in text
    assert (
        'authserver_http_request_duration_seconds_bucket{endpoint="oauth.introspect",le="0.001",method="POST"}' in text
    )
    assert 'authserver_http_requests_total{endpoint="oauth.introspect",method="POST",status="401"}' in text
