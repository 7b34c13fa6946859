"""Property-based fuzzing of a LoRAFleet gRPC service over a real loopback server (hypothesis).

Each service's ``test_<service>_fuzz.py`` builds a server, then calls :func:`fuzz_service`: hypothesis
draws batches of calls to every RPC of the given services, each with a body that is either a
generated request message (every field drawn from its type: boundary integers, NaN and huge floats,
hostile strings such as NUL bytes, ``..``, 1 MiB names, paths inside and outside the data roots,
unknown enum numbers, nested messages, maps, oneofs) or random/undecodable bytes, and sends them
as raw bytes with a short deadline. The property: no call ends INTERNAL or UNKNOWN. After the run
the server must still answer health checks, and nothing may have been written outside its home.

The generator draws from the message *descriptors*, so a field added to a .proto file is fuzzed
without touching this file. ``overrides`` replaces the strategy of a field by its full name
(``lorafleet.v1.GenerateRequest.prompt``) where a test needs a field kept in a cheap range.
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
MIB = 1024 * 1024
HOSTILE_TEXT = [
    "", " ", "a", "bot", "support-bot", "support-bot@1", "support-bot@production", "bot@canary", "bot@0", "bot@",
    "@", "a@b@c", "Bad Name", "\x00", "x\x00y", "/tmp/x\x00y", "../../../etc/passwd", "/etc/passwd", "/", ".", "~",
    "~root/.ssh/id_rsa", "/proc/self/environ", "/dev/zero", "ds-0000000000000000", "ds-", "job-", "ev-", "ro-",
    "a" * 300, "a" * 10_000, "a" * MIB, "é" * 200, "\ud7ff\ue000", "😀" * 50, "%s%n%x", "{{}}", "[" * 2000,
    '{"text": 1' + "0" * 5000, "NaN", "-1", "1e999", "9" * 30, "all-linear", "q_proj", "production", "canary",
    "\n", "\r\n", "\t", "line\nbreak", "<script>", "' OR 1=1 --", "\\", "\u202e", "\ufeff",
]
HOSTILE_BYTES = [b"", b"\x00", b"\xff" * 8, b"\x80", b"[" * 5000 + b"]" * 5000, b'{"text": 1' + b"0" * 5000 + b"}\n",
                 b'{"text": "x"}\n', b'{"text": "x"}\n' * 3, b"\xef\xbb\xbf{}\n", b"\n\n", b"\x00\x01\x02", b"\xc3\x28",
                 b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n']
UNDECODABLE = [b"\x00", b"\xff", b"\x0a\x05ab", b"\x12\xff\xff\xff\xff\x0f", b"\x0f", b"\x08", b"\x0a\x02\xc3\x28"]
INT_EDGES = {32: [0, 1, -1, 2**31 - 1, -(2**31), 2, 7, 100], 64: [0, 1, -1, 2**63 - 1, -(2**63), 2**53 + 1]}
UINT_EDGES = {32: [0, 1, 2, 4, 16, 100, 1024, 2**31 - 1, 2**31, 2**32 - 1],
              64: [0, 1, 2, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]}
FLOATS = [0.0, -0.0, 0.5, 1.0, -1.0, 1e-45, 3.4e38, -3.4e38, float("nan"), float("inf"), float("-inf"), 100.0]
_INT_TYPES = {FieldDescriptor.TYPE_INT32: 32, FieldDescriptor.TYPE_SINT32: 32, FieldDescriptor.TYPE_SFIXED32: 32,
              FieldDescriptor.TYPE_INT64: 64, FieldDescriptor.TYPE_SINT64: 64, FieldDescriptor.TYPE_SFIXED64: 64}
_UINT_TYPES = {FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_FIXED32: 32,
               FieldDescriptor.TYPE_UINT64: 64, FieldDescriptor.TYPE_FIXED64: 64}
MAX_DEPTH = 3


def text_strategy(extra: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Hostile strings, the test's own (paths in its data root, names it registered), and random text."""
    return st.one_of(st.sampled_from([*HOSTILE_TEXT, *extra]), st.text(max_size=24),
                     st.builds(lambda s, n: s * n, st.sampled_from(["a", "../", "\x00", "é"]), st.integers(1, 3000)))


def _scalar(fd: FieldDescriptor, text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    t = fd.type
    if t in _INT_TYPES:
        bits = _INT_TYPES[t]
        return st.sampled_from(INT_EDGES[bits]) | st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if t in _UINT_TYPES:
        bits = _UINT_TYPES[t]
        return st.sampled_from(UINT_EDGES[bits]) | st.integers(0, 2**bits - 1)
    if t == FieldDescriptor.TYPE_DOUBLE:
        return st.sampled_from(FLOATS) | st.floats()
    if t == FieldDescriptor.TYPE_FLOAT:
        return st.sampled_from(FLOATS) | st.floats(width=32)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_STRING:
        return text
    if t == FieldDescriptor.TYPE_BYTES:
        return st.sampled_from(HOSTILE_BYTES) | st.binary(max_size=64)
    if t == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in fd.enum_type.values]) | st.integers(-3, 40)
    raise AssertionError(f"unhandled field type {t} of {fd.full_name}")


@dataclass
class MessageStrategies:
    """Strategies for messages of a descriptor pool, built lazily and cached per message type."""

    text: st.SearchStrategy[str]
    overrides: dict[str, st.SearchStrategy[Any]] = field(default_factory=dict)
    _cache: dict[tuple[str, int], st.SearchStrategy[Any]] = field(default_factory=dict)

    def value(self, fd: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
        if fd.full_name in self.overrides:
            return self.overrides[fd.full_name]
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            return _scalar(fd, self.text)
        return self.message(fd.message_type, depth + 1) if depth < MAX_DEPTH else None

    def field(self, fd: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            key, val = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            inner = self.value(val, depth)
            return None if inner is None else st.dictionaries(self.value(key, depth), inner, max_size=3)
        inner = self.value(fd, depth)
        if inner is None:
            return None
        return st.lists(inner, max_size=3) if fd.is_repeated else inner

    def message(self, desc: Descriptor, depth: int = 0) -> st.SearchStrategy[Any]:
        key = (desc.full_name, depth)
        if key not in self._cache:
            cls = message_factory.GetMessageClass(desc)
            fields = {fd.name: s for fd in desc.fields if (s := self.field(fd, depth)) is not None}
            self._cache[key] = st.fixed_dictionaries({}, optional=fields).map(lambda kw, c=cls: _build(c, kw))
        return self._cache[key]


def _build(cls: type, values: dict[str, Any]) -> Any:
    msg = cls()
    for name, value in values.items():
        target = getattr(msg, name)
        if isinstance(value, dict):
            for k, v in value.items():
                if hasattr(target[k], "CopyFrom"):
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif isinstance(value, list):
            target.extend(value)
        elif hasattr(target, "CopyFrom") and not isinstance(target, (str, bytes)):
            target.CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


@dataclass(frozen=True)
class Rpc:
    path: str
    request: Descriptor
    client_streaming: bool
    server_streaming: bool


def rpcs_of(services: Iterable[ServiceDescriptor]) -> list[Rpc]:
    return [Rpc(f"/{s.full_name}/{m.name}", m.input_type, m.client_streaming, m.server_streaming)
            for s in services for m in s.methods]


def body_strategy(rpc: Rpc, messages: MessageStrategies) -> st.SearchStrategy[Any]:
    """One request body (bytes): two times in three a generated message, else undecodable or random bytes; for
    a client stream a list of bodies."""
    kinds = {"message": messages.message(rpc.request).map(lambda m: m.SerializeToString()),
             "undecodable": st.sampled_from(UNDECODABLE), "bytes": st.binary(max_size=48)}
    one = st.sampled_from(["message"] * 4 + ["undecodable", "bytes"]).flatmap(kinds.__getitem__)
    return st.lists(one, max_size=4) if rpc.client_streaming else one


@dataclass
class FuzzStats:
    codes: collections.Counter = field(default_factory=collections.Counter)
    undecodable: int = 0  # answered "request: body is not a valid ... message"
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    def summary(self) -> str:
        by_code = collections.Counter()
        for (_, code), n in self.codes.items():
            by_code[code] += n
        took = time.monotonic() - self.started
        codes = ", ".join(f"{c}={n}" for c, n in by_code.most_common())
        return f"{self.requests} requests in {took:.1f}s: {codes} ({self.undecodable} undecodable bodies)"


def send(channel: grpc.Channel, rpc: Rpc, body: Any, timeout: float) -> tuple[grpc.StatusCode, str]:
    """Send raw bytes; the call's final code and details (a server stream is read for at most 20 items)."""
    try:
        if rpc.client_streaming:
            channel.stream_unary(rpc.path)(iter(body), timeout=timeout)
        elif rpc.server_streaming:
            call = channel.unary_stream(rpc.path)(body, timeout=timeout)
            for count, _ in enumerate(call):
                if count >= 20:
                    call.cancel()
                    break
        else:
            channel.unary_unary(rpc.path)(body, timeout=timeout)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def fuzz_service(address: str, services: Sequence[ServiceDescriptor], *, examples: int, calls_per_example: int = 10,
                 text_extra: Sequence[str] = (), overrides: dict[str, st.SearchStrategy[Any]] | None = None,
                 timeout: float = 2.0) -> FuzzStats:
    """Fuzz every RPC of ``services`` at ``address``: ``examples`` hypothesis examples of
    ``calls_per_example`` calls each. Returns the statistics; raises on any INTERNAL/UNKNOWN."""
    messages = MessageStrategies(text_strategy(text_extra), dict(overrides or {}))
    rpcs = rpcs_of(services)
    calls = st.sampled_from(rpcs).flatmap(lambda r: st.tuples(st.just(r), body_strategy(r, messages)))
    stats = FuzzStats()
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 * MIB),
                                                      ("grpc.max_receive_message_length", 64 * MIB)])

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(calls, min_size=calls_per_example, max_size=calls_per_example))
    def run(batch: list[tuple[Rpc, Any]]) -> None:
        for rpc, body in batch:
            code, details = send(channel, rpc, body, timeout)
            stats.codes[(rpc.path, code.name)] += 1
            stats.undecodable += details.startswith("request: body is not a valid")
            if code in FORBIDDEN:
                stats.failures.append(f"{rpc.path} -> {code.name}: {details[:300]}")
            assert code not in FORBIDDEN, f"{rpc.path} answered {code.name}: {details[:300]}"
            assert len(details.encode()) <= 1024, f"{rpc.path}: {len(details)}-character status message"

    try:
        run()
    finally:
        channel.close()
    return stats


def assert_serving(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING


def snapshot(root: Path, *, skip: Sequence[Path] = ()) -> set[str]:
    """Every file and directory under ``root`` except those under ``skip`` (to prove nothing was written there)."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not any((here / d).resolve() == s.resolve() for s in skip)]
        found.update(str(here / n) for n in [*dirnames, *filenames])
    return found
