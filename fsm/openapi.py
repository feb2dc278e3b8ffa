"""The OpenAPI document as a generated client needs it: every refusal and every bound stated.

Litestar documents what a handler returns; the rest is written here once, for every operation:
- The error answers, each with the one error body (`fsm.schemas.ErrorBody`): 401 and 403
  wherever a token is needed, 404 where the path names a thing, 409 where the call changes
  something, 422 (and 400, unreadable JSON) where it takes input, 429 for a sign-in, 503 for an
  outage (see `fsm.web`). Statuses a handler documents itself are kept.
- `security: []` on the paths the auth middleware lets through (`PUBLIC_PATHS`).
- The numeric bounds Litestar leaves out: a bound of 0 on an optional field (it tests the
  value's truth) and the bounds of list items and dict values. They are copied from the
  msgspec types, so the document says what the decoder enforces. Likewise a `time` field is
  declared a local time of day by its pattern, where Litestar says `duration`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from zoneinfo import available_timezones

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from fsm.auth.middleware import PUBLIC_PATHS
from fsm.documents import FILE_MEDIA_TYPES

__all__ = ["complete_document", "document_errors"]

ERROR_BODY = Reference(ref="#/components/schemas/ErrorBody")
_MUTATING = frozenset({"post", "put", "patch", "delete"})
# Sign-in is throttled per address and account (fsm.auth.service).
_THROTTLED = frozenset({"/api/v1/auth/login"})
# Public, yet they answer 401 when what they are given does not sign anyone in.
_SIGN_IN = frozenset({"/api/v1/auth/login", "/api/v1/auth/refresh"})
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_DESCRIPTIONS = {
    400: "The body is not readable JSON",
    401: "No, a wrong or an expired token (or, signing in, wrong credentials)",
    403: "The caller's role or scope does not allow this",
    404: "The thing named in the path does not exist, or the caller may not see it",
    409: "The thing is not in a state that allows this, or the change clashes with data",
    422: "The input breaks a rule; `details` names the fields",
    429: "Too many attempts; retry after `Retry-After` seconds",
    503: "A part the request needs is down; retry after `Retry-After` seconds",
}


def document_errors(app: Litestar) -> Litestar:
    """Have `app` complete its OpenAPI document (built lazily, on first request of it)."""
    plugin = app.plugins.get(OpenAPIPlugin)
    # Litestar builds the document on demand and offers no hook after it; a subclass that
    # finishes the build keeps it lazy (an app that never serves the document never builds it).
    plugin.__class__ = _CompletingOpenAPIPlugin
    return app


class _CompletingOpenAPIPlugin(OpenAPIPlugin):
    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        return complete_document(super()._build_openapi())


def complete_document(openapi: OpenAPI) -> OpenAPI:
    """`openapi` with the error answers, public paths and numeric bounds filled in."""
    for path, method, operation in _operations(openapi):
        _add_errors(path, method, operation)
        if path in PUBLIC_PATHS:
            operation.security = []
        _mend_parameters(operation)
        _add_file_answers(openapi, operation)
    _add_bounds(openapi)
    _add_time_zones(openapi)
    _require_one_of(openapi)
    _name_components(openapi)
    return openapi


# Bodies that need at least one of two optional fields (the service refuses neither).
_UUID_SCHEMA = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID)
_AT_LEAST_ONE = {
    "RequestCreate": {"equipment_id": _UUID_SCHEMA, "site_id": _UUID_SCHEMA},
    "LockRequest": {
        "engineer_id": _UUID_SCHEMA,
        "start_at": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
    },
}


def _require_one_of(openapi: OpenAPI) -> None:
    schemas = openapi.components.schemas if openapi.components else None
    for name, fields in _AT_LEAST_ONE.items():
        schema = (schemas or {}).get(name)
        if isinstance(schema, Schema):
            schema.any_of = [
                Schema(required=[field], properties={field: kind}) for field, kind in fields.items()
            ]


# ---- component names a generated client can use --------------------------------------------

# Where two structs share a class name, Litestar names both components by module path
# (`mobile_api_engineer_schemas_CommentRead`) but keeps the bare class name as their `title`,
# which generators take for the class: one of the pair was dropped. Each gets a readable
# name of its own, as key and title, and every reference follows.
_MODULE_LABELS = {
    "checklists": "Checklist",
    "dispatch": "Dispatch",
    "equipment_contracts": "Contract",
    "equipment_equipment": "Equipment",
    "fsm_workorders_replies": "Reply",
    "fsm_workorders": "WorkOrder",
    "mobile_api_client": "ClientApp",
    "mobile_api_engineer": "EngineerApp",
}


def _name_components(openapi: OpenAPI) -> None:
    components = openapi.components
    if components is None or not components.schemas:
        return
    renamed: dict[str, str] = {}
    for key in list(components.schemas):
        label = next(
            (lab for prefix, lab in _MODULE_LABELS.items() if key.startswith(prefix + "_")),
            None,
        )
        if label is None:
            continue
        new = label + key.rsplit("_", 1)[-1]
        if new.startswith(label + label):  # EquipmentEquipmentCard
            new = new[len(label) :]
        renamed[key] = new
    if len(set(renamed.values())) != len(renamed) or set(renamed.values()) & set(
        components.schemas
    ):
        raise RuntimeError(f"component names clash after renaming: {renamed}")
    schemas = {renamed.get(k, k): v for k, v in components.schemas.items()}
    for key, schema in schemas.items():
        if isinstance(schema, Schema):
            schema.title = key
    components.schemas = schemas
    refs = {f"#/components/schemas/{a}": f"#/components/schemas/{b}" for a, b in renamed.items()}
    _follow(openapi, refs, set())


def _follow(node: object, refs: dict[str, str], seen: set[int]) -> None:
    """Point every Reference under `node` at the renamed components."""
    if id(node) in seen or isinstance(node, (str, int, float, bool)) or node is None:
        return
    seen.add(id(node))
    if isinstance(node, Reference):
        node.ref = refs.get(node.ref, node.ref)
        return
    if isinstance(node, dict):
        for value in node.values():
            _follow(value, refs, seen)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _follow(value, refs, seen)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            _follow(getattr(node, name), refs, seen)


# ---- rules the decoder checks that Litestar leaves out -----------------------------------

# The app's Idempotency-Key is a UUID it generated (mobile_api.idempotency).
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# `near=lat,lon` in decimal degrees (fsm.sites.controller).
_LAT_LON = r"^\s*-?[0-9]{1,3}(\.[0-9]+)?\s*,\s*-?[0-9]{1,3}(\.[0-9]+)?\s*$"
_PARAMETER_PATTERNS = {"Idempotency-Key": _UUID, "near": _LAT_LON}


def _mend_parameters(operation: Operation) -> None:
    for parameter in operation.parameters or ():
        if isinstance(parameter, Reference) or not isinstance(parameter.schema, Schema):
            continue
        pattern = _PARAMETER_PATTERNS.get(parameter.name)
        if pattern is not None:
            for schema in _string_schemas(parameter.schema):
                schema.pattern = pattern


def _string_schemas(schema: Schema) -> Iterator[Schema]:
    """`schema` itself if it is a string, else its string members (an optional parameter)."""
    if schema.type == OpenAPIType.STRING:
        yield schema
    for member in schema.one_of or schema.any_of or ():
        if isinstance(member, Schema) and member.type == OpenAPIType.STRING:
            yield member


# Every `timezone` of the API is an IANA name checked against the same list
# (`fsm.schemas.check_timezone`): one component names them all.
TIME_ZONE = Reference(ref="#/components/schemas/TimeZone")


def _add_time_zones(openapi: OpenAPI) -> None:
    components = openapi.components
    if components is None or not components.schemas:
        return
    components.schemas["TimeZone"] = Schema(
        type=OpenAPIType.STRING,
        enum=sorted(available_timezones()),
        description="An IANA time zone name, such as Europe/Berlin",
    )
    for schema in components.schemas.values():
        if isinstance(schema, Schema) and schema.properties:
            _point_at_time_zone(schema.properties)
    for _, _, operation in _operations(openapi):
        for parameter in operation.parameters or ():
            if (
                not isinstance(parameter, Reference)
                and parameter.name == "timezone"
                and isinstance(parameter.schema, Schema)
            ):
                parameter.schema = _time_zone_of(parameter.schema)


def _point_at_time_zone(properties: dict[str, Schema | Reference]) -> None:
    prop = properties.get("timezone")
    if isinstance(prop, Schema):
        properties["timezone"] = _time_zone_of(prop)


def _time_zone_of(schema: Schema) -> Schema | Reference:
    if schema.type == OpenAPIType.STRING:
        if schema.default is not None:
            return Schema(
                all_of=[TIME_ZONE], default=schema.default, description=schema.description
            )
        return TIME_ZONE
    members = schema.one_of or schema.any_of
    if members:
        mended = [
            TIME_ZONE if isinstance(m, Schema) and m.type == OpenAPIType.STRING else m
            for m in members
        ]
        if schema.one_of:
            schema.one_of = mended
        else:
            schema.any_of = mended
    return schema


def _add_file_answers(openapi: OpenAPI, operation: Operation) -> None:
    """An operation with a `format` query parameter answers 200 with the file it names."""
    components = (openapi.components.schemas if openapi.components else None) or {}
    formats: list[str] = []
    for parameter in operation.parameters or []:
        if isinstance(parameter, Parameter) and parameter.name == "format":
            schema = parameter.schema
            if isinstance(schema, Schema) and schema.all_of and len(schema.all_of) == 1:
                schema = schema.all_of[0]
            if isinstance(schema, Reference):
                schema = components.get(schema.ref.rsplit("/", 1)[-1])
            if isinstance(schema, Schema) and schema.enum:
                formats = [str(v) for v in schema.enum if str(v) in FILE_MEDIA_TYPES]
    answer = (operation.responses or {}).get("200")
    if not formats or not isinstance(answer, OpenAPIResponse) or answer.content is None:
        return
    for name in formats:
        answer.content[FILE_MEDIA_TYPES[name]] = OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        )


def _operations(openapi: OpenAPI) -> Iterator[tuple[str, str, Operation]]:
    for path, item in (openapi.paths or {}).items():
        for method in _METHODS:
            operation = getattr(item, method, None)
            if isinstance(operation, Operation):
                yield path, method, operation


def _add_errors(path: str, method: str, operation: Operation) -> None:
    statuses = {503}
    if path not in PUBLIC_PATHS:
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if method in _MUTATING or _takes_cursor(operation):
        statuses.add(409)  # a clash with the data; for a cursor, one not given out here
    if operation.parameters or operation.request_body:
        statuses.add(422)
    if operation.request_body:
        statuses.add(400)
    if path in _THROTTLED:
        statuses.add(429)
    if path in _SIGN_IN:
        statuses.add(401)  # wrong credentials, an expired or revoked refresh token
    responses = operation.responses = operation.responses or {}
    # Litestar's own 400 promises its default body; every error here has ours.
    if "400" in responses and operation.request_body is None:
        del responses["400"]
    for status in sorted(statuses):
        existing = responses.get(str(status))
        if existing is None or (status == 400 and isinstance(existing, OpenAPIResponse)):
            responses[str(status)] = _error_response(status)


def _takes_cursor(operation: Operation) -> bool:
    return any(
        not isinstance(p, Reference) and p.name in ("cursor", "since")
        for p in operation.parameters or ()
    )


def _error_response(status: int) -> OpenAPIResponse:
    response = OpenAPIResponse(
        description=_DESCRIPTIONS[status],
        content={"application/json": OpenAPIMediaType(schema=ERROR_BODY)},
    )
    if status in (429, 503):
        response.headers = {
            "Retry-After": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=86_400),
                required=True,
                description="Seconds to wait before trying again",
            )
        }
    return response


# ---- numeric bounds ---------------------------------------------------------------------


def _add_bounds(openapi: OpenAPI) -> None:
    if openapi.components is None or not openapi.components.schemas:
        return
    structs = _structs_by_component_name()
    for name, schema in openapi.components.schemas.items():
        if not isinstance(schema, Schema) or not schema.properties:
            continue
        # Two structs may share a name while only one is in the document: the one whose fields
        # are the component's properties.
        infos = [msgspec.inspect.type_info(struct) for struct in structs.get(name, ())]
        matching = [
            info
            for info in infos
            if isinstance(info, msgspec.inspect.StructType)
            and {f.encode_name for f in info.fields} | ({info.tag_field} - {None})
            == set(schema.properties)
        ]
        if len(matching) != 1:
            continue
        if matching[0].forbid_unknown_fields:
            # The decoder refuses a field it does not know; say so.
            schema.additional_properties = False
        for field in matching[0].fields:
            prop = schema.properties.get(field.encode_name)
            if isinstance(prop, Schema):
                _bound(prop, field.type)


def _structs_by_component_name() -> dict[str, list[type[msgspec.Struct]]]:
    """Litestar names a component by its class, or by its dotted path when two names clash."""
    found: dict[str, list[type[msgspec.Struct]]] = {}
    stack = list(msgspec.Struct.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        found.setdefault(cls.__name__, []).append(cls)
        found.setdefault(_NON_WORD.sub("_", f"{cls.__module__}.{cls.__qualname__}"), []).append(cls)
    return found


_NON_WORD = re.compile(r"\W")


def _bound(schema: Schema, kind: msgspec.inspect.Type) -> None:
    """Copy the bounds of `kind` onto `schema` where Litestar left them out; mend times."""
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        members = [t.type if isinstance(t, msgspec.inspect.Metadata) else t for t in kind.types]
        numbers = [t for t in members if isinstance(t, _NUMBERS)]
        if any(isinstance(t, msgspec.inspect.TimeType) for t in members):
            for member in schema.one_of or schema.any_of or ():
                if isinstance(member, Schema):
                    _mend_time(member)
        if len(numbers) == 1:
            # Litestar puts an optional number's bounds beside its `oneOf`.
            _copy_bounds(schema, numbers[0])
            for member in schema.one_of or schema.any_of or ():
                if isinstance(member, Schema) and _is_number(member):
                    _copy_bounds(member, numbers[0])
        return
    if isinstance(kind, _NUMBERS):
        _copy_bounds(schema, kind)
    elif isinstance(kind, msgspec.inspect.StrType):
        # Litestar drops the constraints of a list's string items (skill codes).
        if schema.pattern is None and kind.pattern is not None:
            schema.pattern = kind.pattern
        if schema.min_length is None and kind.min_length is not None:
            schema.min_length = kind.min_length
        if schema.max_length is None and kind.max_length is not None:
            schema.max_length = kind.max_length
    elif isinstance(kind, msgspec.inspect.TimeType):
        _mend_time(schema)
    elif isinstance(kind, _SEQUENCES) and isinstance(schema.items, Schema):
        _bound(schema.items, kind.item_type)
    elif isinstance(kind, msgspec.inspect.DictType) and isinstance(
        schema.additional_properties, Schema
    ):
        _bound(schema.additional_properties, kind.value_type)


def _mend_time(schema: Schema) -> None:
    # Litestar calls a time of day a duration; it is a local wall-clock time as msgspec writes
    # it ("06:00:00"), which JSON Schema's `time` format (an offset required) is not either.
    if schema.format in (OpenAPIFormat.DURATION, OpenAPIFormat.TIME):
        schema.format = None
        schema.pattern = _LOCAL_TIME
        schema.description = schema.description or "Local time of day, HH:MM:SS"


_LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$"


_NUMBERS = (msgspec.inspect.IntType, msgspec.inspect.FloatType)
_SEQUENCES = (
    msgspec.inspect.ListType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
    msgspec.inspect.VarTupleType,
)


def _is_number(schema: Schema) -> bool:
    kinds = schema.type if isinstance(schema.type, list) else [schema.type]
    return any(str(getattr(k, "value", k)) in ("integer", "number") for k in kinds)


def _copy_bounds(schema: Schema, kind: msgspec.inspect.IntType | msgspec.inspect.FloatType) -> None:
    if schema.minimum is None and schema.exclusive_minimum is None:
        if kind.ge is not None:
            schema.minimum = kind.ge
        elif kind.gt is not None:
            schema.exclusive_minimum = kind.gt
    if schema.maximum is None and schema.exclusive_maximum is None:
        if kind.le is not None:
            schema.maximum = kind.le
        elif kind.lt is not None:
            schema.exclusive_maximum = kind.lt
