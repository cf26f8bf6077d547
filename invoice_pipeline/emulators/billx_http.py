"""BillX wire details: Laravel-style error bodies, paging parameters, fault responses.

Errors are ``{"message": ...}`` (422s add ``errors``: field path -> messages), the convention
of the Laravel stack the BillX API is built on; the seed documents none of them.
"""

from __future__ import annotations

import re

from invoice_pipeline.emulators.billx_json import dumps
from invoice_pipeline.emulators.billx_validate import Errors
from invoice_pipeline.emulators.knobs import retry_after_header
from invoice_pipeline.emulators.server import Response

UNAUTHENTICATED = dumps({"message": "Unauthenticated."})
NOT_FOUND = dumps({"message": "Not found."})
TOO_MANY = dumps({"message": "Too Many Attempts."})
SERVER_ERROR = dumps({"message": "Server Error"})
BAD_JSON = dumps({"message": "The request body must be a JSON object."})
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
_INTEGER = re.compile(r"-?\d{1,18}")
_HTML_ERROR = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_429_MODES = {"429-no-retry-after": "none", "429-http-date": "http-date"}


def invalid(errors: Errors) -> Response:
    return Response(422, dumps({"message": "The given data was invalid.", "errors": errors}))


def not_allowed(method: str, route: str, allowed: tuple[str, ...]) -> Response:
    """Laravel's MethodNotAllowedHttpException message; ``Allow`` lists the methods."""
    methods = ", ".join(allowed)
    message = f"The {method} method is not supported for route {route}. Supported methods: "
    body = dumps({"message": message + methods + "."})
    return Response(405, body, headers=[("Allow", methods)])


def parse_paging(pairs: list[tuple[str, str]]) -> tuple[int, int] | Errors:
    """(page, per_page) or the errors: page >= 1, per_page 1..100, integers, defaults 1 and 20;
    the last of a repeated parameter wins (as in PHP), unknown parameters are ignored."""
    params = dict(pairs)
    errors: Errors = {}
    values = []
    for name, default, high in (("page", 1, None), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
        raw = params.get(name)
        label = name.replace("_", " ")
        if raw is None:
            values.append(default)
        elif not _INTEGER.fullmatch(raw):
            errors[name] = [f"The {label} must be an integer."]
        elif high is None and int(raw) < 1:
            errors[name] = [f"The {label} must be at least 1."]
        elif high is not None and not 1 <= int(raw) <= high:
            errors[name] = [f"The {label} must be between 1 and {high}."]
        else:
            values.append(int(raw))
    return errors or (values[0], values[1])


def too_many(mode: str, headers: list[tuple[str, str]]) -> Response:
    value = retry_after_header(mode)
    extra = [("Retry-After", value)] if value is not None else []
    return Response(429, TOO_MANY, headers=[*headers, *extra])


def fault_response(fault: str, retry_after: str, headers: list[tuple[str, str]]) -> Response | None:
    """The response that replaces the real one, or None for the faults that alter the real one
    (``timeout``, ``truncated``). A plain ``"429"`` uses the emulator's ``retry_after`` mode."""
    if fault.startswith("429"):
        return too_many(_429_MODES.get(fault, retry_after), headers)
    if fault == "401":
        return Response(401, UNAUTHENTICATED, headers=headers)
    if fault == "500":
        return Response(500, SERVER_ERROR, headers=headers)
    if fault == "reset":
        return Response(0, mode="reset")
    if fault == "html":  # a proxy's error page with status 200, as in the Billingo emulator
        return Response(200, _HTML_ERROR, "text/html; charset=UTF-8", headers)
    return None
