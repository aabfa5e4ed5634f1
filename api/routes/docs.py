"""API documentation rendered by the service itself from its OpenAPI schema (FastAPI's Swagger UI loads
its scripts from a CDN, which an offline deployment cannot reach). ``/openapi.json`` stays the machine-
readable contract; ``/docs`` is the page a new integrator reads: every operation with its role, parameters,
request body, responses and a curl example. Descriptions are Markdown, rendered to HTML with raw HTML turned
off (markdown-it's CommonMark without the ``html`` option), so a description cannot inject markup or script."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from markupsafe import Markup

from api.pages import page_principal, render

router = APIRouter(include_in_schema=False)
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def markdown_html(text: str) -> Markup:
    """Markdown as safe HTML: raw HTML in the source is escaped, never passed through."""
    return Markup(_MARKDOWN.render(text or ""))


def _schema_name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list[{_schema_name(schema.get('items'))}]"
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) or s.get("type", "") for s in schema["anyOf"])
    return str(schema.get("type", ""))


def _response_schema(response: dict[str, Any]) -> Any:
    """The schema of a response's first media type (None when it has no content)."""
    media: dict[str, Any] = next(iter(response.get("content", {}).values()), {})
    return media.get("schema")


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of the schema, grouped order: by tag, then path."""
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body: dict[str, dict[str, Any]] = op.get("requestBody", {}).get("content", {})
            empty: tuple[str, dict[str, Any]] = ("", {})
            media, content = next(iter(body.items()), empty)
            out.append({
                "method": method.upper(), "path": path, "tag": (op.get("tags") or ["other"])[0],
                "summary": op.get("summary", ""), "description": markdown_html(op.get("description", "")),
                "params": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                            "type": _schema_name(p.get("schema")), "description": p.get("description", "")}
                           for p in op.get("parameters", [])],
                "body": _schema_name(content.get("schema")) if content else "", "media": media,
                "responses": {code: _schema_name(_response_schema(r)) for code, r in op.get("responses", {}).items()},
            })
    return sorted(out, key=lambda o: (o["tag"], o["path"], o["method"]))


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    return render(request, "api_docs.html", page_principal(request), spec=spec, ops=operations(spec),
                  tags=[{**t, "description": markdown_html(t.get("description", ""))} for t in spec.get("tags", [])],
                  intro=markdown_html(spec["info"].get("description", "")),
                  schemas={name: json.dumps(s, ensure_ascii=False, indent=1) for name, s in sorted(schemas.items())},
                  base=str(request.base_url).rstrip("/"))
