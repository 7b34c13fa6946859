"""Turn exceptions into gRPC statuses with short, safe messages, at the servicer edge.

``@grpc_errors`` wraps an async unary method or an async-generator streaming method; the server-wide
guard (``lorafleet.server.guard``) does the same for every handler, those without the decorator
included. :func:`status_for` decides, for any exception:

* ``LoraFleetError`` -> its own code, ``"<field>: <reason>"`` as details (logged at INFO);
* a database that cannot be reached (SQLAlchemy/psycopg connection errors, a locked SQLite file, a
  pool timeout) -> UNAVAILABLE: the caller may retry; a unique-constraint race -> ABORTED;
* anything else -> INTERNAL "internal error in <method> (<ExceptionType>, incident <id>)", logged with
  its stack trace under that incident id. The exception's text stays in the log: it may hold the input.

Every message is cut to ``MAX_DETAILS_BYTES`` (``lorafleet.server.validation.safe_details``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from typing import Any

import grpc

from lorafleet.errors import Aborted, LoraFleetError, Unavailable
from lorafleet.server.validation import safe_details

log = logging.getLogger(__name__)

# Class names (of sqlalchemy, psycopg or sqlite3 errors) that mean "the database is not reachable now"
_UNAVAILABLE_ERRORS = frozenset({"OperationalError", "InterfaceError", "TimeoutError", "DisconnectionError"})


def domain_error(exc: BaseException) -> LoraFleetError | None:
    """``exc`` as a LoraFleetError when it has a meaning for the caller (domain or database), else None."""
    if isinstance(exc, LoraFleetError):
        return exc
    module = type(exc).__module__ or ""
    if module.startswith(("sqlalchemy", "psycopg", "sqlite3")):
        name = type(exc).__name__
        if name in _UNAVAILABLE_ERRORS or getattr(exc, "connection_invalidated", False):
            return Unavailable(f"the registry database is unavailable ({name}); retry", field="registry")
        if name == "IntegrityError":
            return Aborted("a concurrent change to the registry won the race; re-read and retry", field="registry")
    return None


def status_for(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    """The (code, details) a call that raised ``exc`` ends with; logs it (see the module docstring)."""
    known = domain_error(exc)
    if known is not None:
        log.info("rpc rejected", extra={"rpc": method, "code": known.code.name, "field": known.field,
                                        "reason": safe_details(known.message, 200)})
        return known.code, safe_details(str(known))
    incident = uuid.uuid4().hex[:12]
    log.error("rpc failed", extra={"rpc": method, "incident": incident}, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error in {method} ({type(exc).__name__}, incident {incident})"


async def _abort(context: Any, method: str, exc: BaseException) -> None:
    code, details = status_for(exc, method)
    await context.abort(code, details)


def grpc_errors(fn: Any) -> Any:
    name = fn.__qualname__
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream_wrapper(self: Any, request: Any, context: Any) -> Any:
            try:
                async for item in fn(self, request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:
                await _abort(context, name, exc)

        return stream_wrapper

    @functools.wraps(fn)
    async def unary_wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await fn(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, name, exc)

    return unary_wrapper
