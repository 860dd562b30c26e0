"""Every URL pattern of the project, walked from the root resolver and turned into real URLs.

`endpoints(objects)` yields one `Endpoint` per pattern with its URL built from the fixture
objects (office, key, account, run ...). A pattern whose parameters cannot be filled, or whose
built URL does not resolve back to it, is returned in `unbuildable` so tests fail loudly, naming
it: new URLs added later are covered automatically or break the suite, never skipped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

# Which object a `<uuid:public_id>` stands for, by the first path segment of the route.
PUBLIC_ID_OWNER = {"offices": "office", "developer-accounts": "account", "runs": "run"}
# Other parameters, by name: an object attribute ("obj.attr") or a literal sample value.
PARAM_VALUES = {
    "key_id": "key.public_id",
    "username": "teammate",
    # Admin parameters (the admin is its own area: see ADMIN_NAMESPACE).
    "app_label": "offices",
    "object_id": "1",
    "content_type_id": "1",
    "url": "no-such-page/",
    "id": "1",
}
ADMIN_NAMESPACE = "admin"
_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)")


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern with a concrete URL; `owner` names the object it belongs to, if any."""

    name: str
    route: str
    url: str
    owner: str | None  # "office", "account", "run" or None for pages that are not one object
    view: Any

    @property
    def is_admin(self) -> bool:
        return self.name.startswith(ADMIN_NAMESPACE + ":")


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        piece = str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + piece, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed>"
            yield name, prefix + piece, entry


def _value(param: str, route: str, objects: dict[str, Any]) -> tuple[str, str | None]:
    """(value, owning object name) for one parameter; KeyError when it cannot be filled."""
    if param == "public_id":
        owner = PUBLIC_ID_OWNER[route.lstrip("^").split("/", 1)[0]]
        return str(objects[owner].public_id), owner
    spec = PARAM_VALUES[param]
    if "." in spec:
        obj, attr = spec.split(".", 1)
        return str(getattr(objects[obj], attr)), None
    return spec, None


def _build(route: str, objects: dict[str, Any]) -> tuple[str, str | None]:
    owner: list[str] = []

    def fill(match: re.Match) -> str:
        value, who = _value(match.group("name"), route, objects)
        owner.extend([who] if who else [])
        return value

    path = _REGEX_GROUP.sub(fill, route)  # regex groups first: they contain "<name>" too
    path = _ROUTE_PARAM.sub(fill, path).replace("^", "").replace("$", "").replace("\\", "")
    return "/" + path, owner[0] if owner else None


def endpoints(objects: dict[str, Any]) -> tuple[list[Endpoint], list[str]]:
    """All patterns as endpoints, and the patterns that could not be exercised (with why)."""
    found, unbuildable = [], []
    for name, route, entry in _walk(get_resolver().url_patterns):
        try:
            url, owner = _build(route, objects)
            match = resolve(url.split("?")[0])
        except (KeyError, Resolver404) as exc:
            unbuildable.append(f"{name} ({route}): {type(exc).__name__} {exc}")
            continue
        if match.func is not entry.callback:
            unbuildable.append(f"{name} ({route}): {url} resolves to {match.view_name}")
            continue
        found.append(Endpoint(name, route, url, owner, entry.callback))
    return found, unbuildable
