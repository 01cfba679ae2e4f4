"""resource_demo's Prometheus metrics: how each token verdict was reached."""

from tests.resource_demo.conftest import bearer


def _verdicts(client, source: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(f'resource_demo_token_verdicts_total{{source="{source}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_local_verdicts_are_counted_and_exposed(local_app, issuer):
    client = local_app.test_client()
    before = _verdicts(client, "local")
    for _ in range(3):
        assert client.get("/v2/contacts", headers=bearer(issuer.mint())).status_code == 200
    assert _verdicts(client, "local") == before + 3
