"""The application's settings: the only place that reads the environment (prefix ``TECHMATCH_``, and ``.env``).

:class:`ApiSettings` composes the layers' own settings (:class:`graph.settings.GraphSettings`,
:class:`matcher.settings.MatcherSettings`) with the service's (address, sessions, cookies, rate limits, uploads):
one variable per field, named as before (``TECHMATCH_DATA_DIR``, ``TECHMATCH_EMBEDDER``, ``TECHMATCH_PORT`` ...).
The entry points (the app factory, the command line, the benchmarks' set-up) call :func:`load_settings` once and
pass the settings, or the layer's part of them, to the code they call; a wrong value stops the start with one
Chinese line naming the variable (:class:`SettingsError`).
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.exceptions import TechmatchError
from graph.settings import GraphSettings
from matcher.settings import MatcherSettings

ENV_PREFIX = "TECHMATCH_"


class SettingsError(TechmatchError):
    """A setting is missing or has a value it cannot take; the message names the variable and why."""


class ApiSettings(BaseSettings, GraphSettings, MatcherSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development", description="production: the settings a deployment must give are required "
        "(the session secret); development: they default (the secret is generated and kept in data_dir)")
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: SecretStr | None = Field(
        default=None, description="signs CSRF tokens and hidden-need handles; required in production; in "
        "development empty = generated once and kept in data_dir/session-secret (every worker on one data "
        "directory shares it)",
    )
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="a web login lasts this long")
    cookie_secure: bool = Field(default=False, description="mark cookies Secure and send HSTS: set when served "
                                "over HTTPS (behind a TLS proxy)")
    login_attempts_per_minute: int = Field(default=20, ge=1, description="login attempts a minute per client address")
    login_failures_before_lockout: int = Field(default=5, ge=1, description="wrong passwords for one account from "
                                               "one client before that pair is locked out")
    login_lockout_minutes: int = Field(default=15, ge=1)
    rate_limit_storage: str = Field(default="memory://", description="where request counters live (the `limits` "
                                    "library's storage URI; redis://host:6379 shares them between workers)")
    max_upload_mb: int = 20
    max_upload_rows: int = Field(default=100_000, ge=1, description="rows an uploaded file may hold")
    max_upload_seconds: float = Field(default=120.0, gt=0, description="time an upload may take to read and load")
    max_page_size: int = 200
    api_requests_per_minute: int = Field(
        default=600, ge=0, description="requests a minute per API key (bursts up to as many); 0 = no limit"
    )
    load_demo: bool = True

    @model_validator(mode="after")
    def _secret_outside_development(self) -> ApiSettings:
        # A generated secret is kept per data directory: a second machine (or a fresh volume) would sign with
        # another one and every session and form would fail there. A deployment says which secret it uses.
        if self.environment != "development" and not (self.session_secret and
                                                      self.session_secret.get_secret_value().strip()):
            raise ValueError(f"{ENV_PREFIX}SESSION_SECRET 未设置：生产环境（{ENV_PREFIX}ENVIRONMENT="
                             f"{self.environment}）必须给出会话密钥（例如用 python -c \"import secrets; "
                             "print(secrets.token_urlsafe(32))\" 生成一个），所有进程和机器共用同一个")
        return self


def load_settings(**overrides: Any) -> ApiSettings:
    """The settings from the environment (and ``.env``), ``overrides`` taking precedence, validated now: a wrong
    value raises :class:`SettingsError` naming each variable and why."""
    try:
        return ApiSettings(**overrides)
    except pydantic.ValidationError as exc:
        raise SettingsError(describe(exc)) from None


#: pydantic's error types, said in Chinese (the constraint's number filled in from the error's context)
_REASONS = {
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "literal_error": "只能是 {expected}",
    "string_type": "应为文字",
    "path_type": "应为路径",
    "missing": "未设置",
}


def describe(exc: pydantic.ValidationError) -> str:
    """One line for every wrong setting: ``配置错误：TECHMATCH_PORT 的值 'abc' 无效：应为整数``."""
    parts = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        if error["type"] == "value_error":  # our validators' own sentence
            reason = str(ctx.get("error", error["msg"]))
        else:
            reason = _REASONS.get(error["type"], "").format(**ctx).replace("' or '", "'、'") or error["msg"]
        if not error["loc"]:  # a check across settings: the sentence names the variables itself
            parts.append(reason)
            continue
        variable = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}"
        value = error.get("input")
        if error["type"] == "missing" or isinstance(value, dict):
            parts.append(f"{variable} {reason}")
        else:
            shown = "***" if "secret" in variable.lower() or "password" in variable.lower() else repr(value)
            parts.append(f"{variable} 的值 {shown} 无效：{reason}")
    return "配置错误：" + "；".join(parts) + "。请改正环境变量（或 .env 文件）后重新启动"
