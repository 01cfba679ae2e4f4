"""``GET /docs/api``: the admin API's reference for people, rendered on the server from the OpenAPI document.

The metadata's ``service_documentation`` (RFC 8414) points here. The page is built from the same
``admin_api/openapi.json`` that ``/api/openapi.json`` serves, so it cannot drift from it: operations grouped by tag,
their parameters, request bodies and responses, the schemas they name, the security schemes and the problem
responses. Plain HTML and the server's own stylesheets: no script, nothing from another origin (the pages' CSP).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

from .httpbase import PAGE_SECURITY_POLICY

DOCUMENT = Path(__file__).with_name("admin_api") / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

bp = Blueprint("api_reference", __name__)


@bp.get("/docs/api")
def api_reference():
    page = render_template("api_reference.html", ref=reference(), issuer=current_app.config["AUTHSERVER_ISSUER"])
    return page, 200, {"Content-Security-Policy": PAGE_SECURITY_POLICY, "Cache-Control": "public, max-age=300"}


@functools.cache
def reference() -> dict[str, Any]:
    """The page's content, built once per process (the document ships with the code)."""
    return build_reference(json.loads(DOCUMENT.read_text()))


def build_reference(document: dict[str, Any]) -> dict[str, Any]:
    components = document.get("components", {})
    info = document.get("info", {})
    tags = {tag["name"]: {**tag, "operations": []} for tag in document.get("tags", [])}
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                operation = _operation(path, method, item[method], shared, components)
                tag = (item[method].get("tags") or ["other"])[0]
                tags.setdefault(tag, {"name": tag, "operations": []})["operations"].append(operation)
    return {
        "title": info.get("title", "API"),
        "version": info.get("version", ""),
        "summary": info.get("summary", ""),
        "description": inline(info.get("description", "")),
        "tags": [
            {**tag, "slug": _slug(tag["name"]), "description": inline(tag.get("description", ""))}
            for tag in tags.values()
            if tag["operations"]
        ],
        "security": [
            {"name": name, "kind": _scheme_kind(scheme), "description": inline(scheme.get("description", ""))}
            for name, scheme in components.get("securitySchemes", {}).items()
        ],
        "problems": [
            {
                "name": name,
                "description": inline(response.get("description", "")),
                "types": list(response.get("content", {})),
            }
            for name, response in components.get("responses", {}).items()
        ],
        "schemas": [_schema(name, schema) for name, schema in components.get("schemas", {}).items()],
    }


def _operation(path: str, method: str, op: dict, shared: list, components: dict) -> dict[str, Any]:
    parameters = [_resolve(p, components) for p in [*shared, *op.get("parameters", [])]]
    body = _resolve(op.get("requestBody"), components) if op.get("requestBody") else None
    return {
        "method": method.upper(),
        "path": path,
        "anchor": f"op-{method}-{_slug(path)}",
        "summary": op.get("summary", ""),
        "description": inline(op.get("description", "")),
        "security": [" + ".join(requirement) or "none" for requirement in op.get("security", [])] or ["none"],
        "parameters": [
            {
                "name": p.get("name", ""),
                "where": p.get("in", ""),
                "required": bool(p.get("required")),
                "type": type_label(p.get("schema", {})),
                "description": inline(p.get("description", "")),
            }
            for p in parameters
        ],
        "body": _content(body) if body else None,
        "responses": [
            {"status": status, **_content(_resolve(response, components))}
            for status, response in op.get("responses", {}).items()
        ],
    }


def _content(described: dict) -> dict[str, Any]:
    """A request body or response: its description and each media type with its schema."""
    return {
        "description": inline(described.get("description", "")),
        "required": bool(described.get("required")),
        "media": [
            {"type": media_type, "schema": type_label(media.get("schema", {})), "fields": _fields(media.get("schema"))}
            for media_type, media in described.get("content", {}).items()
        ],
    }


def _schema(name: str, schema: dict) -> dict[str, Any]:
    return {
        "name": name,
        "anchor": f"schema-{name}",
        "description": inline(schema.get("description", "")),
        "type": type_label({key: value for key, value in schema.items() if key != "properties"}),
        "fields": _fields(schema, inline_refs=True),
    }


def _fields(schema: Any, *, inline_refs: bool = False) -> list[dict[str, Any]]:
    """An object's properties as rows, for a schema written in place (a named one links to its own section)."""
    if not isinstance(schema, dict) or ("$ref" in schema and not inline_refs):
        return []
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "required": name in required,
            "type": type_label(prop),
            "description": inline(prop.get("description", "")) if isinstance(prop, dict) else "",
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def type_label(schema: Any) -> Markup:
    """A schema in a few words of HTML: ``array of <a>Integration</a>``, ``string | null``, ``one of "a", "b"``."""
    if not isinstance(schema, dict) or not schema:
        return Markup("any")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for key, joiner in (("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")):
        if key in schema:
            return escape(joiner).join(type_label(part) for part in schema[key])
    if "const" in schema:
        return Markup("<code>{}</code>").format(json.dumps(schema["const"]))
    if "enum" in schema:
        return Markup("one of ") + Markup(", ").join(
            Markup("<code>{}</code>").format(json.dumps(value)) for value in schema["enum"]
        )
    kinds = schema.get("type", "object" if "properties" in schema else "any")
    labels = []
    for kind in kinds if isinstance(kinds, list) else [kinds]:
        if kind == "array":
            labels.append(Markup("array of ") + type_label(schema.get("items", {})))
        elif kind == "object" and "properties" in schema:
            labels.append(Markup("object {{{}}}").format(", ".join(schema["properties"])))
        else:
            described = "format" in schema and kind != "null"
            labels.append(escape(kind) + (Markup(" <small>({})</small>").format(schema["format"]) if described else ""))
    return Markup(" | ").join(labels)


def inline(text: str) -> Markup:
    """The document's descriptions use a little Markdown: `code` and **bold**; everything else is text."""
    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    html = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)
    return Markup(html)  # noqa: S704  # nosec B704 (escaped above; only the code and strong tags are added)


def _resolve(node: Any, components: dict) -> dict:
    """Follow a local ``$ref`` (``#/components/<kind>/<name>``) to what it names."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/components/"):
        kind, name = node["$ref"].removeprefix("#/components/").split("/", 1)
        node = components.get(kind, {}).get(name, {})
    return node if isinstance(node, dict) else {}


def _scheme_kind(scheme: dict) -> str:
    if scheme.get("type") == "http":
        return f"HTTP {scheme.get('scheme', '')}".strip()
    if scheme.get("type") == "apiKey":
        return f"{scheme.get('in', '')} {scheme.get('name', '')}".strip()
    return str(scheme.get("type", ""))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "root"
