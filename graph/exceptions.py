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


class DataDirLockedError(TechmatchError):
    """Another techmatch process already runs a server on this data directory."""


class DuplicateIdError(TechmatchError):
    """A node with this label and id already exists."""

    def __init__(self, label: str, node_id: str) -> None:
        self.label, self.node_id = label, node_id
        super().__init__(f"{label} with id {node_id!r} already exists")


class NotFoundError(TechmatchError):
    """No node with this id."""

    def __init__(self, label: str, node_id: str) -> None:
        self.label, self.node_id = label, node_id
        super().__init__(f"no {label} with id {node_id!r}")


class ValidationError(TechmatchError):
    """Input that does not fit the domain model; ``field`` and ``where`` say what and where."""

    def __init__(self, message: str, field: str | None = None, where: str | None = None) -> None:
        self.field, self.where = field, where
        super().__init__(message)


class AccessDeniedError(TechmatchError):
    """The caller's role may not see or change this."""
