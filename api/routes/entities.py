"""CRUD for the graph's public entities (achievements, enterprises, institutions, talents, platforms,
chains, segments, regions, projects, brokers, policy items): one set of typed routes per label.

Who may read and write is the role table's (:mod:`api.policy`): every workspace role reads, the bureau
writes, a broker enters achievements and changes only those it entered. Needs, challenges, feedback, users,
keys and audit events have their own routers with their own rules.
"""

# no "from __future__ import annotations": the routes are built from per-label types at run time

import inspect
import typing
from enum import Enum
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, create_model

from api.auth import Principal, Role, require_roles
from api.deps import PageParams, Store, ensure_storable
from api.errors import ERROR_RESPONSES, ApiError
from api.policy import Act, Resource, Target, authorize, roles_for
from graph.model import NODE_TYPES, Achievement, Node, NodeLabel

router = APIRouter(prefix="/api", tags=["entities"], responses=ERROR_RESPONSES)

#: URL segment -> label, for every label exposed by this generic resource
RESOURCES: dict[str, NodeLabel] = {
    "achievements": NodeLabel.ACHIEVEMENT,
    "enterprises": NodeLabel.ENTERPRISE,
    "institutions": NodeLabel.INSTITUTION,
    "talents": NodeLabel.TALENT,
    "platforms": NodeLabel.PLATFORM,
    "chains": NodeLabel.INDUSTRY_CHAIN,
    "segments": NodeLabel.CHAIN_SEGMENT,
    "regions": NodeLabel.REGION,
    "projects": NodeLabel.PROJECT,
    "brokers": NodeLabel.BROKER,
    "policies": NodeLabel.POLICY,
    "targets": NodeLabel.TARGET,
    "tasks": NodeLabel.TASK,
    "departments": NodeLabel.DEPARTMENT,
    "merge-records": NodeLabel.MERGE_RECORD,
}
#: the role-table resource of each label (the rest are public entities)
RESOURCE_OF: dict[NodeLabel, Resource] = {
    NodeLabel.ACHIEVEMENT: Resource.ACHIEVEMENT,
    NodeLabel.MERGE_RECORD: Resource.MERGE_RECORD,
}
#: labels written only by the service itself (merge records: the loader's deduplication)
READ_ONLY = {NodeLabel.MERGE_RECORD}
MAX_TEXT_QUERY = 100


def resource_of(label: NodeLabel) -> Resource:
    return RESOURCE_OF.get(label, Resource.PUBLIC_ENTITY)


def _filter_fields(cls: type[Node]) -> dict[str, Any]:
    """Scalar fields a list can filter on by equality: enums, booleans, short strings."""
    out: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name in {"id", "name", "description", "demo", "provenance"}:
            continue
        ann = field.annotation
        if typing.get_origin(ann) is list:
            continue
        args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
        base = args[0] if len(args) == 1 else None
        if isinstance(base, type) and (issubclass(base, Enum) or base in (bool, str)):
            if base is str and name not in {"region", "chain_id", "enterprise_id", "kind", "status", "metric"}:
                continue
            out[name] = base
    return out


def _node_out_model(cls: type[Node]) -> type[BaseModel]:
    return cls  # nodes are plain data; the output is the node itself


def _list_endpoint(label: NodeLabel, cls: type[Node], filters: dict[str, Any]) -> Any:
    def endpoint(
        request: Request,
        store: Store,
        page: PageParams,
        q: str | None = Query(None, max_length=MAX_TEXT_QUERY, description="name contains, or exact id"),
        **kwargs: Any,
    ) -> dict[str, Any]:
        where = {k: v for k, v in kwargs.items() if v is not None}
        rows = store.list_props(label, where=where, text=q or None, skip=page.skip, limit=page.page_size + 1)
        items = [cls.from_props(r) for r in rows[: page.page_size]]
        return {"items": items, "page": page.page, "page_size": page.page_size, "has_more": len(rows) > page.page_size}

    params = [p for p in inspect.signature(endpoint).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    for name, typ in filters.items():
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=Query(None), annotation=typ | None)
        )
    # FastAPI reads the query parameters from the signature; functions have no typed __signature__ attribute
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return endpoint


def _register(slug: str, label: NodeLabel) -> None:
    cls = NODE_TYPES[label]
    snake = slug.replace("-", "_")
    resource = resource_of(label)
    reader = require_roles(*roles_for(resource, Act.READ))
    # the page's item type is this label's model, known only at run time: no static type can name it
    list_model = create_model(f"{cls.__name__}Page", items=(list[cls], ...),  # type: ignore[valid-type]
                              page=(int, ...), page_size=(int, ...), has_more=(bool, ...))

    router.add_api_route(
        f"/{slug}", _list_endpoint(label, cls, _filter_fields(cls)), methods=["GET"], response_model=list_model,
        operation_id=f"list_{snake}", summary=f"List {label.value} nodes", dependencies=[Depends(reader)],
    )

    def get_one(node_id: str, store: Store) -> Node:
        return store.require_node(label, node_id)

    router.add_api_route(
        f"/{slug}/{{node_id}}", get_one, methods=["GET"], response_model=cls, operation_id=f"get_{snake}",
        summary=f"Get one {label.value}", dependencies=[Depends(reader)],
    )
    if label in READ_ONLY:
        return

    def create(request: Request, body: Node = Body(...), *, store: Store,
               principal: Principal = Depends(require_roles(*roles_for(resource, Act.CREATE)))) -> Node:
        authorize(principal, resource, Act.CREATE)
        body = _stamp(principal, body)
        ensure_storable(body)
        store.create_node(body)
        _after_write(request, label, body)
        return body

    def update(request: Request, node_id: str, body: Node = Body(...), *, store: Store,
               principal: Principal = Depends(require_roles(*roles_for(resource, Act.UPDATE)))) -> Node:
        if body.id != node_id:
            raise ApiError(422, f"请求体中的 id {body.id!r} 与地址中的 {node_id!r} 不一致", "id")
        authorize(principal, resource, Act.UPDATE, _target(store.require_node(label, node_id)))
        body = _stamp(principal, body)
        ensure_storable(body)
        store.update_node(body)
        _after_write(request, label, body)
        return body

    def delete(request: Request, node_id: str, store: Store,
               principal: Principal = Depends(require_roles(*roles_for(resource, Act.DELETE)))) -> None:
        authorize(principal, resource, Act.DELETE, _target(store.require_node(label, node_id)))
        store.delete_node(label, node_id)
        engine = request.app.state.engine_if_built()
        if engine is not None and label == NodeLabel.ACHIEVEMENT:
            engine.remove_achievement(node_id)  # standings that listed it are refreshed when next stale

    # the body is this label's model: FastAPI reads it from the signature when the route is added
    create.__annotations__["body"] = update.__annotations__["body"] = cls
    router.add_api_route(f"/{slug}", create, methods=["POST"], response_model=cls, status_code=201,
                         operation_id=f"create_{snake}", summary=f"Create a {label.value}")
    router.add_api_route(f"/{slug}/{{node_id}}", update, methods=["PUT"], response_model=cls,
                         operation_id=f"update_{snake}", summary=f"Replace a {label.value}")
    router.add_api_route(f"/{slug}/{{node_id}}", delete, methods=["DELETE"], status_code=204,
                         operation_id=f"delete_{snake}", summary=f"Delete a {label.value} and its edges")


def _target(node: Node) -> Target:
    return Target(curator_id=node.curator_id if isinstance(node, Achievement) else None)


def _stamp(principal: Principal, node: Node) -> Node:
    """A broker's entry is marked as its own (whatever the body says), so that it may change it later."""
    if isinstance(node, Achievement) and principal.role == Role.BROKER:
        return node.model_copy(update={"curator_id": principal.broker_id})
    return node


def _after_write(request: Request, label: NodeLabel, node: Node) -> None:
    """Keep the matcher's indexes, the needs' standings and the subscribers current after an edit."""
    if isinstance(node, Achievement):
        request.app.state.upkeep.after_achievements([node])


for _slug, _label in RESOURCES.items():
    _register(_slug, _label)
