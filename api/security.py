"""HTTP hardening that every response gets: security headers, no caching of anything but static assets,
and a same-origin check on the web forms (a login or a verdict posted from another site is refused before any
route runs). Pure ASGI middlewares: they add no per-request work beyond a header scan."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

#: scripts only from this origin; inline style attributes are used by the pages' bars and charts
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SecurityHeaders:
    """CSP, frame and sniffing protections on every response; ``no-store`` on everything but ``/static``
    (pages and API answers carry what one user may see); HSTS when served over HTTPS."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class SameOriginForms:
    """Refuse a state-changing request to a web page (not ``/api``: changes there need an API key) whose
    ``Origin`` (or, without one, ``Referer``) names another site. The forms' CSRF tokens stay the main
    defence; this stops a cross-site login or post before it reaches a route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _UNSAFE or scope.get("path", "").startswith("/api"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        claimed = headers.get("origin") or headers.get("referer")
        if claimed and claimed != "null":
            host = headers.get("host", "")
            parts = urlsplit(claimed)
            if parts.netloc.lower() != host.lower():
                response = error_response(403, "请求来自其他网站，已拒绝", "origin", "cross_origin")
                await response(scope, receive, send)
                return
        elif claimed == "null":
            response = error_response(403, "请求来源不明，已拒绝", "origin", "cross_origin")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
