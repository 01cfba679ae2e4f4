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
    response = target.agency.request(
        "POST", f"/accounts/{target.agency.account_id}/webhooks", json={"url": url, "events": ["token.revoked"]}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "url"
    hooks = target.agency.request("GET", f"/accounts/{target.agency.account_id}/webhooks").json()["webhooks"]
    assert url not in [hook.get("url") for hook in hooks]


# IPv6 addresses that carry an IPv4 one (issue 13 §5): a NAT64 gateway, a 6to4 relay or a Teredo tunnel delivers
# to the IPv4 address inside, so each is judged by it too; 127.0.0.1 being allowed here does not allow them.
EMBEDDED_IPV4 = {
    "nat64_metadata": "http://[64:ff9b::a9fe:a9fe]/",
    "nat64_loopback": "http://[64:ff9b::7f00:1]/",
    "nat64_local_use_metadata": "http://[64:ff9b:1::a9fe:a9fe]/",
    "nat64_local_use_48_private": "http://[64:ff9b:1:a00:1::]/",
    "sixtofour_loopback": "http://[2002:7f00:1::]/",
    "sixtofour_metadata": "http://[2002:a9fe:a9fe::1]/",
    "ipv4_compatible_loopback": "http://[::127.0.0.1]/",
    "ipv4_compatible_private": "http://[::10.0.0.1]/",
    "ipv4_translated_loopback": "http://[::ffff:0:127.0.0.1]/",
    "ipv4_mapped_metadata": "http://[::ffff:a9fe:a9fe]/",
    "teredo_client_metadata": "http://[2001:0:808:808:0:0:5601:5601]/",
    "teredo_server_private": "http://[2001:0:a00:1:0:0:f7f7:f7f7]/",
}


@pytest.mark.parametrize("url", EMBEDDED_IPV4.values(), ids=EMBEDDED_IPV4.keys())
def test_webhook_to_an_ipv6_address_embedding_an_internal_ipv4_is_refused(target, url):
    response = target.agency.request(
        "POST", f"/accounts/{target.agency.account_id}/webhooks", json={"url": url, "events": ["token.revoked"]}
    )
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["field"] == "url"
    hooks = target.agency.request("GET", f"/accounts/{target.agency.account_id}/webhooks").json()["webhooks"]
    assert url not in [hook.get("url") for hook in hooks]
