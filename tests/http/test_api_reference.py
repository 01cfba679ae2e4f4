"""The metadata's ``service_documentation`` is a real page: the admin API's reference, rendered on the server from the
OpenAPI document (issue 17 §7), readable without script or anything from another origin."""

from __future__ import annotations

import html
import json
import re

from authserver.api_reference import DOCUMENT, METHODS, build_reference, inline, type_label


def test_service_documentation_points_to_a_page_listing_every_path_of_the_document(client, app):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    issuer = app.config["AUTHSERVER_ISSUER"]
    assert metadata["service_documentation"] == f"{issuer}/docs/api"

    page = client.get(metadata["service_documentation"].removeprefix(issuer))
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    text = html.unescape(page.get_data(as_text=True))
    document = json.loads(DOCUMENT.read_text())
    for path, item in document["paths"].items():
        for method in set(item) & set(METHODS):
            assert f'{method.upper()}</span> <code class="path">{path}</code>' in text, (method, path)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in text
    for name in document["components"]["securitySchemes"]:
        assert f"<code>{name}</code>" in text


def test_the_page_loads_nothing_from_elsewhere_and_runs_no_script(client):
    page = client.get("/docs/api")
    body = page.get_data(as_text=True)
    assert "<script" not in body.lower()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', body), "a resource from another origin"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    for stylesheet in re.findall(r'<link rel="stylesheet" href="([^"]+)"', body):
        response = client.get(stylesheet)
        assert response.status_code == 200
        response.close()  # a file response: let go of the file


def test_every_in_page_link_has_its_target(client):
    body = client.get("/docs/api").get_data(as_text=True)
    anchors = set(re.findall(r'id="([^"]+)"', body))
    links = set(re.findall(r'href="#([^"]+)"', body))
    assert links and links <= anchors, sorted(links - anchors)


def test_parameters_bodies_and_responses_are_shown_with_their_schemas():
    reference = build_reference(json.loads(DOCUMENT.read_text()))
    operations = {(op["method"], op["path"]): op for tag in reference["tags"] for op in tag["operations"]}
    rotate = operations[("POST", "/api/integrations/{integration_id}/rotate")]
    assert [p["name"] for p in rotate["parameters"]] == ["integration_id", "If-Match"]  # path-level and $refs
    assert rotate["parameters"][0]["required"] and rotate["parameters"][0]["where"] == "path"
    assert rotate["body"]["media"][0]["type"] == "application/json"
    statuses = {r["status"] for r in rotate["responses"]}
    assert {"201", "default"} <= statuses or {"200", "default"} <= statuses
    problem = next(r for r in rotate["responses"] if r["status"] == "default")
    assert problem["media"][0]["type"] == "application/problem+json"
    assert 'href="#schema-Problem"' in problem["media"][0]["schema"]


def test_descriptions_are_escaped_and_only_code_and_bold_become_markup():
    assert inline("`a<b>` **bold** <script>x</script>") == (
        "<code>a&lt;b&gt;</code> <strong>bold</strong> &lt;script&gt;x&lt;/script&gt;"
    )
    assert type_label({"type": "array", "items": {"$ref": "#/components/schemas/Integration"}}) == (
        'array of <a href="#schema-Integration">Integration</a>'
    )
    assert type_label({"type": ["string", "null"], "format": "date-time"}) == (
        "string <small>(date-time)</small> | null"
    )
    assert type_label({"enum": ["a", "<b>"]}) == "one of <code>&#34;a&#34;</code>, <code>&#34;&lt;b&gt;&#34;</code>"
