"""Helpers and fixtures shared by tests/server, tests/client and tests/cli.

The conftest of each of those folders imports the fixtures from here. Nothing here is a test.

* ``tiny_base_model_dir``: a 2-layer random LlamaForCausalLM saved with ``save_pretrained``
  (SmolLM2's tokenizer files copied in, so a service that loads a tokenizer works); servers use
  it through ``base_model=<dir>`` so no test needs the real 135M weights.
* ``tiny_adapter_dir``: a PEFT LoRA adapter (safetensors) made by ``peft`` for that base.
* ``ServerProcess``: a ``lorafleet serve ...`` subprocess whose JSON log lines are collected.
* ``make_certificates``: a CA, a server certificate for localhost/127.0.0.1 and a client
  certificate, generated with ``cryptography``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lorafleet.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json")


# -- models -------------------------------------------------------------------------------------


def make_tiny_llama(target: Path, tokenizer_source: Path | None) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(target, safe_serialization=True)
    if tokenizer_source is not None:
        for name in TOKENIZER_FILES:
            if (tokenizer_source / name).is_file():
                shutil.copy2(tokenizer_source / name, target / name)
    return target


def make_peft_adapter(base_dir: Path, target: Path, r: int = 4,
                      targets: tuple[str, ...] = ("q_proj", "v_proj")) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets), task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(target, safe_serialization=True)
    assert (target / "adapter_model.safetensors").is_file()
    return target


# Each test folder's conftest registers these session fixtures separately; the cache makes
# them build once per session anyway.
_SESSION_CACHE: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_base_model_dir(tmp_path_factory: pytest.TempPathFactory, real_base_model_dir: Path) -> Path:
    if "base" not in _SESSION_CACHE:
        _SESSION_CACHE["base"] = make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), real_base_model_dir)
    return _SESSION_CACHE["base"]


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory: pytest.TempPathFactory, tiny_base_model_dir: Path) -> Path:
    if "adapter" not in _SESSION_CACHE:
        _SESSION_CACHE["adapter"] = make_peft_adapter(tiny_base_model_dir,
                                                      tmp_path_factory.mktemp("tiny-adapter") / "adapter")
    return _SESSION_CACHE["adapter"]


@pytest.fixture
def fleet_settings(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, tiny_base_model_dir: Path) -> Settings:
    """Settings isolated from the caller's environment: a fresh home, the tiny base, loopback; the
    session's temporary directory is the data root (adapters are imported from there)."""
    return Settings.from_env(
        environ={}, home=tmp_path / "home", base_model=str(tiny_base_model_dir),
        host="127.0.0.1", quantization="none", device="cpu", grace_period_s=5.0, log_format="text",
        data_roots=str(tmp_path_factory.getbasetemp()), http_port=0,
    )


# -- network ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_status(address: str, service: str = "", timeout: float = 5.0,
                  credentials: grpc.ChannelCredentials | None = None) -> int:
    channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status


def wait_serving(address: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if health_status(address, timeout=2.0) == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{address} not SERVING after {timeout}s: {last}")


def scrape_metrics(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` as {(sample name, labels): value}."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- subprocesses -------------------------------------------------------------------------------


def subprocess_env(settings_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAFLEET_") or k == "LORAFLEET_TEST_MODEL_CACHE"}
    env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "LORAFLEET_LOG_FORMAT": "json"})
    env.update(settings_env or {})
    return env


class ServerProcess:
    """A subprocess whose stderr JSON log lines are parsed on a thread (other lines kept as text)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> None:
        self.args = args
        self.process = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[Any] = []
        self._queue: queue.Queue[Any] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            try:
                item: Any = json.loads(text)
            except ValueError:
                item = text
            self.lines.append(item)
            self._queue.put(item)

    def wait_for_log(self, msg: str, timeout: float = 120.0, **fields: Any) -> dict[str, Any]:
        """The first (not yet consumed) JSON log record with this message and these fields."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no log {msg!r} {fields} within {timeout}s; output:\n{self.output()}")
            try:
                item = self._queue.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.process.poll() is not None and self._queue.empty():
                    self._reader.join(timeout=5)
                    if self._queue.empty():
                        raise AssertionError(
                            f"process exited ({self.process.returncode}) before {msg!r}:\n{self.output()}") from None
                continue
            if isinstance(item, dict) and item.get("msg") == msg and all(item.get(k) == v for k, v in fields.items()):
                return item

    def output(self) -> str:
        return "\n".join(json.dumps(x) if isinstance(x, dict) else str(x) for x in self.lines[-80:])

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def lorafleet_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lorafleet", *args]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# -- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path  # signed by a different CA
    other_client_key: Path


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: Any, path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _write_cert(cert: Any, path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _issue(subject_cn: str, key: Any, issuer: Any, issuer_key: Any, *, ca: bool, server: bool = False) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    elif server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_ca_key = _key(), _key()
    ca = _issue("lorafleet test CA", ca_key, None, None, ca=True)
    other_ca = _issue("some other CA", other_ca_key, None, None, ca=True)
    server_key, client_key, other_key = _key(), _key(), _key()
    return Certificates(
        ca=_write_cert(ca, directory / "ca.pem"),
        server_cert=_write_cert(_issue("localhost", server_key, ca, ca_key, ca=False, server=True),
                                directory / "server.pem"),
        server_key=_write_key(server_key, directory / "server-key.pem"),
        client_cert=_write_cert(_issue("client", client_key, ca, ca_key, ca=False), directory / "client.pem"),
        client_key=_write_key(client_key, directory / "client-key.pem"),
        other_client_cert=_write_cert(_issue("intruder", other_key, other_ca, other_ca_key, ca=False),
                                      directory / "other.pem"),
        other_client_key=_write_key(other_key, directory / "other-key.pem"),
    )


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


# -- in-process servers -------------------------------------------------------------------------

SLOW_SERVICE = "lorafleet.test.Slow"
SLOW_METHOD = f"/{SLOW_SERVICE}/Sleep"


def slow_binding() -> Any:
    """A test-only service: ``Sleep(b"<seconds>") -> b"slept <seconds>"`` (raw bytes, no proto)."""
    import asyncio
    import logging

    from lorafleet.server.binding import ServiceBinding

    log = logging.getLogger("lorafleet.test.slow")

    async def sleep(request: bytes, context: Any) -> bytes:
        seconds = float(request.decode())
        log.info("slow call started", extra={"seconds": seconds})
        await asyncio.sleep(seconds)
        log.info("slow call finished", extra={"seconds": seconds})
        return b"slept " + request

    handler = grpc.method_handlers_generic_handler(SLOW_SERVICE, {"Sleep": grpc.unary_unary_rpc_method_handler(sleep)})
    return ServiceBinding.ready(SLOW_SERVICE, handler, lambda h, server: server.add_generic_rpc_handlers((h,)))


def registry_only(ctx: Any) -> list[Any]:
    from lorafleet.server.registry_service import registry_binding

    return [registry_binding(ctx)]


def call_sleep(channel: grpc.Channel, seconds: float, timeout: float = 30.0) -> bytes:
    return channel.unary_unary(SLOW_METHOD)(str(seconds).encode(), timeout=timeout)


@pytest.fixture
def registry_server(fleet_settings: Settings) -> Any:
    """A running registry-only server (role eval) on a free loopback port, no metrics endpoint."""
    from lorafleet.server.background import BackgroundServer

    with BackgroundServer("eval", fleet_settings, port=0, metrics_port=0, bindings=registry_only) as server:
        yield server
