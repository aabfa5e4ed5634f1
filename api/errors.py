"""Every error the service returns, as one JSON shape: ``{"error": code, "detail": message, "field": where}``.

Domain exceptions (graph.exceptions) map to status codes here, so routes just raise them; request bodies
over the size limit are refused before they are read in full.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.exceptions import (
    AccessDeniedError,
    DuplicateIdError,
    GraphUnavailableError,
    NotFoundError,
    TechmatchError,
    ValidationError,
)

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    """What every 4xx/5xx response carries."""

    error: str
    detail: str
    field: str | None = None


class ApiError(Exception):
    """An error a route raises on purpose, with its status and the field at fault."""

    def __init__(self, status: int, detail: str, field: str | None = None, error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.field = status, detail, field
        self.error = error or _CODES.get(status, "error")
        self.headers = headers
        super().__init__(detail)


def error_response(status: int, detail: str, field: str | None = None, error: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=error or _CODES.get(status, "error"), detail=detail, field=field)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


#: documented on every route so integrators see the error shape in the OpenAPI docs
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no or unknown API key / session"},
    403: {"model": ErrorBody, "description": "the caller's role may not do this"},
    404: {"model": ErrorBody, "description": "no such id (or not visible to the caller)"},
    422: {"model": ErrorBody, "description": "invalid input; `field` names where"},
}


#: pydantic's error types in words a person reads (the field is named before them); ctx fills the braces
_VALIDATION_ZH = {
    "missing": "必须填写",
    "string_too_short": "太短（至少 {min_length} 个字符）",
    "string_too_long": "太长（最多 {max_length} 个字符）",
    "too_short": "太少（至少 {min_length} 项）",
    "too_long": "太多（最多 {max_length} 项）",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "须大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "须小于 {lt}",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数",
    "float_parsing": "须为数字",
    "bool_parsing": "须为是或否（true / false）",
    "date_parsing": "日期须写成 年-月-日",
    "date_from_datetime_parsing": "日期须写成 年-月-日",
    "datetime_parsing": "时间格式不对",
    "enum": "须为以下之一：{expected}",
    "literal_error": "须为以下之一：{expected}",
    "string_pattern_mismatch": "格式不对",
    "string_type": "须为文字",
    "list_type": "须为列表",
    "dict_type": "须为对象",
    "model_type": "须为对象",
    "extra_forbidden": "不是可以填写的项目",
}


def _validation_zh(error: dict[str, Any]) -> str:
    """One pydantic error in Chinese; a check of ours ("Value error, ...") keeps its own words."""
    kind = str(error.get("type", ""))
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ")
    template = _VALIDATION_ZH.get(kind)
    if template is None:
        return "填写有误"
    ctx = {k: str(v).replace("'", "") for k, v in (error.get("ctx") or {}).items()}
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template.split("（", 1)[0].split("：", 1)[0]


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    # drop the "body"/"query" prefix: integrators care about the field, not FastAPI's plumbing
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _wants_html(request: Request) -> bool:
    # web pages get a Chinese error page; the API and anything asking for JSON get the JSON shape
    path = request.url.path
    if path.startswith(("/api", "/static", "/docs", "/openapi", "/redoc")):
        return False
    return "text/html" in request.headers.get("accept", "") and hasattr(request.app.state, "html_error")


def respond(request: Request, status: int, detail: str, field: str | None = None, error: str | None = None,
            headers: dict[str, str] | None = None) -> Any:
    """The error as JSON, or as the workspace's error page for a browser on a web page."""
    if _wants_html(request):
        return request.app.state.html_error(request, status, detail)
    return error_response(status, detail, field, error, headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Any:
        headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
        if exc.headers:
            headers = {**(headers or {}), **exc.headers}
        return respond(request, exc.status, exc.detail, exc.field, exc.error, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Any:
        errors = exc.errors()
        first = errors[0] if errors else {}
        field = _loc(first.get("loc", ()))
        msg = _validation_zh(first)
        if first.get("type") == "json_invalid":
            return respond(request, 400, "请求体不是合法的 JSON", "body", "malformed_json")
        named = re.match(r"^(\w+): ", msg) if first.get("type") == "value_error" else None
        if named and field in ("body", ""):
            # a whole-model check names its field at the start of the message ("reason: ...")
            field, msg = named.group(1), msg[len(named.group(0)):]
        more = f"（另有 {len(errors) - 1} 处问题）" if len(errors) > 1 else ""
        return respond(request, 422, f"{field}: {msg}{more}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        return respond(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Any:
        return respond(request, 404, str(exc), "id")

    @app.exception_handler(DuplicateIdError)
    async def _duplicate(request: Request, exc: DuplicateIdError) -> Any:
        return respond(request, 409, str(exc), "id")

    @app.exception_handler(ValidationError)
    async def _invalid(request: Request, exc: ValidationError) -> Any:
        return respond(request, 422, str(exc), exc.field)

    @app.exception_handler(AccessDeniedError)
    async def _denied(request: Request, exc: AccessDeniedError) -> Any:
        return respond(request, 403, str(exc) or "你的角色无权进行此操作")

    @app.exception_handler(GraphUnavailableError)
    async def _unavailable(request: Request, exc: GraphUnavailableError) -> Any:
        # the operator's details (exit code, log lines) stay in the log; the caller gets the sentence for people
        detail = getattr(exc, "public_detail", None) or "图数据库服务暂时不可用，请稍后再试"
        return respond(request, 503, detail, error="graph_unavailable", headers={"Retry-After": "5"})

    @app.exception_handler(TechmatchError)
    async def _domain(request: Request, exc: TechmatchError) -> Any:
        return respond(request, 400, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        # the traceback goes to the log, never to the client
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, 500, "服务内部出错，已记录，请稍后再试", error="internal")


class BodySizeLimit:
    """Refuse request bodies over a limit with 413, by Content-Length and while streaming.

    ``upload_paths`` (prefixes) get the larger upload limit; everything else the JSON limit.
    """

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int, upload_paths: tuple[str, ...]) -> None:
        self.app, self.json_limit, self.upload_limit, self.upload_paths = app, json_limit, upload_limit, upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.upload_limit if path.startswith(self.upload_paths) else self.json_limit
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_error(send, 400, "Content-Length 不是数字", "content-length")
                    return
                if declared > limit:
                    await _send_error(send, 413, f"请求体 {declared} 字节，超过上限 {limit} 字节")
                    return
        received = 0
        too_big = False

        async def limited_receive() -> Message:
            nonlocal received, too_big
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_big = True
                    raise _TooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, f"请求体超过上限 {limit} 字节")
        except Exception:
            if too_big and not started:
                await _send_error(send, 413, f"请求体超过上限 {limit} 字节")
            else:
                raise


class _TooLarge(Exception):
    pass


async def _send_error(send: Send, status: int, detail: str, field: str | None = None) -> None:
    response = error_response(status, detail, field)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
