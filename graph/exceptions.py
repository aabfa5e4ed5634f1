"""The errors techmatch raises, in one module so callers catch them by meaning."""

from __future__ import annotations


class TechmatchError(Exception):
    """Base of every techmatch error."""


class GraphUnavailableError(TechmatchError):
    """The graph server cannot be reached or could not be started."""


class ServerStartError(GraphUnavailableError):
    """The embedded server did not start; the message names the cause and the log file."""

    def __init__(self, message: str, log_file: str | None = None) -> None:
        self.log_file = log_file
        super().__init__(f"{message}" + (f" (log: {log_file})" if log_file else ""))


class GraphDownError(GraphUnavailableError):
    """The graph server is known to be down (its process exited); raised at once, without waiting on the driver.

    ``public_detail`` is the sentence the service answers with (503); ``str()`` is the operator's line.
    """

    def __init__(self, message: str, public_detail: str = "图数据库服务暂时不可用，请稍后再试") -> None:
        self.public_detail = public_detail
        super().__init__(message)


class GraphServerExitedError(GraphDownError):
    """A graph server this process started exited by itself (killed, crashed, out of memory)."""

    def __init__(self, exit_code: int | None, log_file: str | None, tail: str = "",
                 public_detail: str = "图数据库服务暂时不可用，请稍后再试") -> None:
        self.exit_code, self.log_file, self.tail = exit_code, log_file, tail
        code = "未知" if exit_code is None else str(exit_code)
        if exit_code is not None and exit_code < 0:
            code += f"，信号 {-exit_code}"
        message = f"图数据库进程意外退出（退出码 {code}）"
        if tail:
            message += f"；日志最后几行：{tail}"
        if log_file:
            message += f"；完整日志：{log_file}"
        super().__init__(message, public_detail)


class DataDirLockedError(TechmatchError):
    """Another techmatch process already runs a server on this data directory."""


def _label_zh(label: str) -> str:
    from graph.model import LABEL_ZH  # the model imports this module: look the name up when an error is made

    return LABEL_ZH.get(label, "记录")


class DuplicateIdError(TechmatchError):
    """A node with this label and id already exists (the message is for a person: in Chinese)."""

    def __init__(self, label: str, node_id: str) -> None:
        self.label, self.node_id = label, node_id
        super().__init__(f"已有编号为 {node_id} 的{_label_zh(label)}")


class NotFoundError(TechmatchError):
    """No node with this id (the message is for a person: in Chinese)."""

    def __init__(self, label: str, node_id: str) -> None:
        self.label, self.node_id = label, node_id
        super().__init__(f"没有编号为 {node_id} 的{_label_zh(label)}")


class ValidationError(TechmatchError):
    """Input that does not fit the domain model; ``field`` and ``where`` say what and where."""

    def __init__(self, message: str, field: str | None = None, where: str | None = None) -> None:
        self.field, self.where = field, where
        super().__init__(message)


class AccessDeniedError(TechmatchError):
    """The caller's role may not see or change this."""
