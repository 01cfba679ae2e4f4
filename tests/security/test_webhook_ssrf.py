"""Server-side request forgery through webhooks: a subscription may only point at a public https address. The
security target allows 127.0.0.1 over http (for its own fixtures); everything else internal stays refused."""

from __future__ import annotations

import pytest

INTERNAL = {
    "cloud_metadata": "https://169.254.169.254/latest/meta-data/",
    "private_10": "https://10.0.0.1/hook",
    "private_192": "https://192.168.1.1/hook",
    "loopback_ipv6": "https://[::1]/hook",
    "ipv4_mapped_metadata": "https://[::ffff:169.254.169.254]/hook",
    "unspecified": "https://0.0.0.0/hook",
    "other_loopback": "https://127.0.0.2/hook",
    "credentials_in_url": "https://user:pass@169.254.169.254/",
    "file_scheme": "file:///etc/passwd",
    "gopher_scheme": "gopher://127.0.0.1:6379/_INFO",
}


@pytest.mark.parametrize("url", INTERNAL.values(), ids=INTERNAL.keys())
def test_webhook_to_an_internal_address_or_scheme_is_refused(target, url):
    response = target.agency.request("POST", f"/accounts/{target.agency.account_id}/webhooks",
                                     json={"url": url, "events": ["token.revoked"]})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "url"
    hooks = target.agency.request("GET", f"/accounts/{target.agency.account_id}/webhooks").json()["webhooks"]
    assert url not in [hook.get("url") for hook in hooks]
