"""Signed Encrypt and GetSecretValue throughput against a real ``mamori server``, with
``GET /health`` as baseline.

One run:

1. starts ``mamori server`` on a temporary data directory and a free port (SQLite unless
   ``--store-url``), waits for ``/health`` and, with the official new SDK
   (``alibabacloud-kms20160120``), creates what each ``--action`` needs: one ``Aliyun_AES_256``
   key for Encrypt, one text secret (~100 bytes, default encryption key) for GetSecretValue;
2. for each action, captures one call exactly as the SDK puts it on the wire, then precomputes
   ``--requests`` requests signed with the SDK's own ``Utils.get_authorization``
   (ACS3-HMAC-SHA256), each with its own SDK nonce and a current ``x-acs-date``; a self-check
   proves that the generator reproduces the captured SDK request byte for byte;
3. replays them with ``wrk`` (``benchmarks/wrk_replay.lua``), each request once, every wrk
   thread on its own slice, for ``--duration`` seconds; several loads (actions, RAM user) run
   A B … B A, half the duration each, so drift during the run cancels out;
4. drives ``GET /health`` the same way against the same server;
5. prints requests/s, p50 and p99 for each and the ratios, checks that every request answered
   200 and that sampled responses are right (Encrypt: decrypts to one of the plaintexts sent;
   GetSecretValue: carries the secret's value);
6. stops the server with SIGTERM.

Run: ``.venv/bin/python benchmarks/encrypt.py`` (``--help`` for the knobs); add
``--action Encrypt --action GetSecretValue`` to measure both in one run. Needs ``wrk``.
``benchmarks/sign.py`` drives its AsymmetricSign workloads through the same capture, signing,
replay and check functions.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import configparser
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_kms20160120.client import Client
from alibabacloud_tea_openapi import utils_models as openapi_models
from alibabacloud_tea_openapi.utils import Utils
from darabonba.core import DaraCore
from darabonba.request import DaraRequest

from mamori.client import Client as MamoriClient
from mamori.client._client import RAM as RAM_VERSION

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "wrk_replay.lua"
RESULT_MARKER = "MAMORI_WRK_RESULT "
# Distinct plaintexts cycled through the requests: enough that the server never sees a
# repeated pattern, few enough that a decrypted sample can be checked against the set.
PLAINTEXT_POOL = 256
# GetSecretValue's secret: a text value of about the size of a password or a DSN.
SECRET_BYTES = 100
ACTIONS = ("Encrypt", "GetSecretValue")
# The server accepts x-acs-date within ±15 min (spec §4.1); keep a margin.
DATE_WINDOW_S = 14 * 60


# --------------------------------------------------------------------------- server process


@dataclass(frozen=True, slots=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    tls_port: int = 0  # 0: no HTTPS listener

    @property
    def tls_endpoint(self) -> str:
        return f"127.0.0.1:{self.tls_port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command() -> list[str]:
    # Prefer the console script installed next to this interpreter (the venv's), so the
    # benchmark measures the checkout it is run from.
    script = Path(sys.executable).parent / "mamori"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mamori.cli"]


def health_status(port: int) -> int | None:
    # http.client rather than urllib: urllib honours HTTP_PROXY even for 127.0.0.1.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


@contextlib.contextmanager
def running_server(
    workdir: Path, store_url: str | None, workers: int = 0, *, tls: bool = False
) -> Iterator[Server]:
    port = free_port()
    tls_port = free_port() if tls else 0
    data_dir = workdir / "data"
    log_path = workdir / "server.log"
    command = [
        *server_command(),
        "server",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--tls-port",
        str(tls_port),
        "--workers",
        str(workers),
    ]
    if store_url:
        command += ["--store-url", store_url]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, port, data_dir, log_path, tls_port)
    try:
        deadline = time.monotonic() + 60
        expected = workers or os.cpu_count() or 1
        while health_status(port) != 200 or (
            expected > 1 and len(_workers(process.pid)) < expected
        ):
            if process.poll() is not None:
                raise RuntimeError(f"mamori server exited early; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mamori server not healthy after 60 s; see {log_path}")
            time.sleep(0.1)
        if expected > 1:
            time.sleep(1.0)  # the last workers forked are still opening the store
        yield server
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        print(f"warning: server had already exited ({process.returncode})", file=sys.stderr)
        return
    process.send_signal(signal.SIGTERM)
    try:
        # uvicorn drains for up to timeout_graceful_shutdown (30 s) before exiting.
        code = process.wait(timeout=35)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        print("warning: server ignored SIGTERM for 35 s and was killed", file=sys.stderr)
        return
    print(f"server stopped by SIGTERM (exit {code})")


def read_credentials(data_dir: Path) -> tuple[str, str]:
    ini = configparser.ConfigParser()
    ini.read(data_dir / "admin.credentials", encoding="utf-8")
    section = ini["default"]
    return section["access_key_id"], section["access_key_secret"]


def new_sdk(endpoint: str, access_key_id: str, secret: str) -> Client:
    return Client(
        openapi_models.Config(
            access_key_id=access_key_id,
            access_key_secret=secret,
            endpoint=endpoint,
            protocol="http",
        )
    )


# --------------------------------------------------------------------------- request capture


@dataclass(frozen=True, slots=True)
class Template:
    """One SDK call as the SDK built it (before signing) and as it went on the wire."""

    method: str
    pathname: str
    protocol: str
    port: int
    query: dict[str, str]
    headers: dict[str, str]  # SDK's header dict before signing, in the SDK's order
    algorithm: str
    payload_hash: str
    wire_lines: list[tuple[str, str]]  # header lines as sent, names in wire case and order
    authorization: str  # what the SDK signed, for the self-check
    wire: bytes


def capture_sdk_request(
    access_key_id: str, secret: str, call: Callable[[Client], object], reply: dict[str, str]
) -> Template:
    """Make one real SDK call against a throwaway listener, which answers ``reply``, and keep
    what the SDK built and sent.

    The SDK's DaraRequest (query and header dicts) is recorded by wrapping the transport;
    the raw bytes come from the listener, so header case/order and the transport's extras
    (Accept-Encoding, Content-Length) are whatever the SDK stack really emits."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    wire: list[bytes] = []

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            wire.append(data)
            body = json.dumps({"RequestId": "capture", **reply}).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    recorded: list[DaraRequest] = []
    real_do_action = DaraCore.do_action

    def spy(request: DaraRequest, runtime_option: Any = None) -> Any:
        recorded.append(request)
        return real_do_action(request, runtime_option)

    client = new_sdk(f"127.0.0.1:{port}", access_key_id, secret)
    try:
        with mock.patch.object(DaraCore, "do_action", spy):
            call(client)
    finally:
        thread.join(timeout=5)
        listener.close()
    request, raw = recorded[0], wire[0]
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    wire_lines = [tuple(line.split(": ", 1)) for line in head.split("\r\n")[1:]]
    headers = dict(request.headers)
    authorization = headers.pop("Authorization")
    if "content-length: 0" not in head.lower():
        # The replay format and the Lua splitter assume body-less requests, as the SDK's RPC
        # calls are (parameters in the query).
        raise RuntimeError("the SDK sent a request with a body; the benchmark can't replay it")
    return Template(
        method=request.method,
        pathname=request.pathname,
        protocol=request.protocol,
        port=request.port,
        query=dict(request.query),
        headers=headers,
        algorithm=authorization.split(" ", 1)[0],
        payload_hash=headers["x-acs-content-sha256"],
        wire_lines=[(name, value) for name, value in wire_lines],
        authorization=authorization,
        wire=raw,
    )


# --------------------------------------------------------------------------- request generator


def build_request(
    template: Template,
    *,
    host: str,
    params: dict[str, str],
    date: str,
    nonce: str,
    access_key_id: str,
    secret: str,
) -> bytes:
    """The raw HTTP request the SDK would send for these inputs, signed by the SDK itself;
    ``params`` replace or add query parameters of the captured call."""
    request = DaraRequest()
    request.method = template.method
    request.pathname = template.pathname
    request.protocol = template.protocol
    request.port = template.port
    request.query = {**template.query, **params}
    headers = dict(template.headers)
    headers["host"] = host
    headers["x-acs-date"] = date
    headers["x-acs-signature-nonce"] = nonce
    request.headers = headers
    headers["Authorization"] = Utils.get_authorization(
        request, template.algorithm, template.payload_hash, access_key_id, secret
    )
    # Same URL composition as the SDK transport (DaraCore.compose_url: urlencode, form style).
    url = urlsplit(DaraCore.compose_url(request))
    target = f"{url.path}?{url.query}" if url.query else url.path
    lines = [f"{template.method.upper()} {target} HTTP/1.1"]
    for name, value in template.wire_lines:
        # SDK headers take this request's values; transport extras keep the captured ones.
        lines.append(f"{name}: {headers.get(name, value)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def self_check(template: Template, access_key_id: str, secret: str) -> None:
    """Regenerate the captured request from its own inputs: must match the SDK's bytes."""
    rebuilt = build_request(
        template,
        host=template.headers["host"],
        params={},
        date=template.headers["x-acs-date"],
        nonce=template.headers["x-acs-signature-nonce"],
        access_key_id=access_key_id,
        secret=secret,
    )
    if rebuilt != template.wire:
        raise RuntimeError(
            "generated request differs from the SDK's:\n"
            f"SDK:\n{template.wire.decode()}\ngenerated:\n{rebuilt.decode()}"
        )


@dataclass(frozen=True, slots=True)
class PartJob:
    path: Path
    count: int
    offset: int
    template: Template
    host: str
    variants: list[dict[str, str]]
    access_key_id: str
    secret: str


def write_part(job: PartJob) -> list[str]:
    """Sign one part of a wrk thread's requests into its file; return the nonces used."""
    nonces: list[str] = []
    date_refreshed = 0.0
    date = ""
    with job.path.open("wb") as out:
        for i in range(job.count):
            now = time.monotonic()
            if now - date_refreshed >= 0.5:
                # The SDK stamps each call; refreshing twice a second is just as current.
                date, date_refreshed = Utils.get_timestamp(), now
            nonce = Utils.get_nonce()
            nonces.append(nonce)
            out.write(
                build_request(
                    job.template,
                    host=job.host,
                    params=job.variants[(job.offset + i) % len(job.variants)],
                    date=date,
                    nonce=nonce,
                    access_key_id=job.access_key_id,
                    secret=job.secret,
                )
            )
            out.write(b"\0")
    return nonces


def generate(workdir: Path, total: int, slices: int, load: Load, host: str) -> None:
    """Make ``workdir`` and write ``requests.<i>`` in it for each wrk thread ``i``: disjoint,
    NUL-separated requests of ``load``, the ``n``-th with the query parameters
    ``variants[n % len(variants)]`` of its workload."""
    # Signing an Encrypt costs ~80 µs (mostly the SDK's quote() of the 1.4 KB plaintext), so
    # sign in parts on every core (the server is idle meanwhile), then join the parts into
    # one file per wrk thread. spawn: the workers inherit no SDK sockets.
    workdir.mkdir()
    workers = os.cpu_count() or 1
    per_slice = -(-total // slices)
    parts_per_slice = -(-workers // slices)
    per_part = -(-per_slice // parts_per_slice)
    jobs = [
        PartJob(
            workdir / f"part.{index}.{part}",
            per_part,
            (index * parts_per_slice + part) * per_part,
            load.template,
            host,
            load.workload.variants,
            load.access_key_id,
            load.secret,
        )
        for index in range(slices)
        for part in range(parts_per_slice)
    ]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        nonce_lists = pool.map(write_part, jobs, chunksize=1)
    nonces = [nonce for chunk in nonce_lists for nonce in chunk]
    if len(set(nonces)) != len(nonces):
        # A duplicate would show up as SignatureNonceUsed; fail before measuring instead.
        raise RuntimeError("the SDK's get_nonce() produced duplicate nonces")
    for index in range(slices):
        with (workdir / f"requests.{index}").open("wb") as out:
            for part in range(parts_per_slice):
                path = workdir / f"part.{index}.{part}"
                with path.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 20)
                path.unlink()


# --------------------------------------------------------------------------- wrk


@dataclass(frozen=True, slots=True)
class WrkResult:
    name: str
    raw: dict[str, Any]

    @property
    def rps(self) -> float:
        return float(self.raw["requests"]) / (float(self.raw["duration_us"]) / 1e6)

    @property
    def p50_ms(self) -> float:
        return float(self.raw["p50_us"]) / 1000

    @property
    def p99_ms(self) -> float:
        return float(self.raw["p99_us"]) / 1000

    @property
    def socket_errors(self) -> int:
        keys = ("connect_errors", "read_errors", "write_errors", "timeouts")
        return sum(int(self.raw[key]) for key in keys)


def merge(results: list[WrkResult]) -> WrkResult:
    """One result from several runs of the same load: counts add up, rates and percentiles are
    the mean of the runs (each run is equally long)."""
    if len(results) == 1:
        return results[0]
    raw: dict[str, Any] = dict(results[0].raw)
    for key, value in raw.items():
        if isinstance(value, list):
            raw[key] = [item for r in results for item in r.raw[key]]
        elif key in ("p50_us", "p99_us", "server_cpu", "wrk_cpu"):
            raw[key] = sum(float(r.raw[key]) for r in results) / len(results)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            raw[key] = sum(r.raw[key] for r in results)
    return WrkResult(results[0].name, raw)


def _workers(pid: int) -> list[int]:
    """The worker processes a server's supervisor forked (none with --workers 1)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (workers, and each worker's audit syncer)."""
    found = [pid]
    for child in _workers(pid):
        found += _descendants(child)
    return found


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU of a server so far, every process under it included (Linux /proc);
    NaN elsewhere. 100% is one core."""
    total = 0.0
    for each in _descendants(pid):
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            return float("nan")
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass(frozen=True, slots=True)
class Profile:
    py_spy: str
    pid: int
    output: Path


def run_wrk(
    name: str,
    url: str,
    *,
    threads: int,
    connections: int,
    duration: int,
    replay_dir: Path | None,
    server_pid: int,
    profile: Profile | None = None,
) -> WrkResult:
    env = dict(os.environ)
    env.pop("MAMORI_WRK_REPLAY_DIR", None)
    if replay_dir is not None:
        env["MAMORI_WRK_REPLAY_DIR"] = str(replay_dir)
        env["MAMORI_WRK_THREADS"] = str(threads)
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration}s",
        "--timeout=10s",
        f"--script={LUA_SCRIPT}",
        url,
    ]
    profiler = None
    if profile is not None:
        # Sample the server only while wrk drives it. Blocking mode (py-spy pauses the
        # server ~100 times a second): --nonblocking gives torn, misattributed stacks.
        profiler = subprocess.Popen(
            [
                profile.py_spy,
                "record",
                f"--pid={profile.pid}",
                f"--duration={duration}",
                "--rate=100",
                "--subprocesses",
                "--threads",
                "--format=raw",
                f"--output={profile.output}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    server_cpu_before = process_cpu_seconds(server_pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_after = process_cpu_seconds(server_pid)
    if profiler is not None:
        profiler.wait(timeout=duration + 60)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            raw = json.loads(line[len(RESULT_MARKER) :])
            seconds = raw["duration_us"] / 1e6
            # CPU shares of one core over the measured interval: ~100% for the server means
            # its single process is saturated; wrk's share is what the load generator takes
            # from the same 2 cores (it includes loading the request files, ~1 s of CPU).
            raw["server_cpu"] = (server_cpu_after - server_cpu_before) / seconds
            raw["wrk_cpu"] = (
                children_after.ru_utime
                + children_after.ru_stime
                - children_before.ru_utime
                - children_before.ru_stime
            ) / seconds
            return WrkResult(name, raw)
    raise RuntimeError(
        f"wrk ({name}) gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )


def replay(
    server: Server,
    name: str,
    batch: Path | None,
    *,
    threads: int,
    connections: int,
    duration: int,
    profile: Profile | None = None,
) -> WrkResult:
    """Replay one batch of signed requests (``generate``) against the server, then delete it;
    without a batch, ``GET /health`` with wrk's own static request (the trivial baseline)."""
    try:
        return run_wrk(
            name,
            f"http://{server.endpoint}/" + ("health" if batch is None else ""),
            threads=threads,
            connections=connections,
            duration=duration,
            replay_dir=batch,
            server_pid=server.process.pid,
            profile=profile,
        )
    finally:
        if batch is not None:
            shutil.rmtree(batch, ignore_errors=True)


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True, slots=True)
class Workload:
    """One action as the benchmark drives it: how the SDK makes one call, what varies between
    the signed copies, and how a sampled 200 response is checked."""

    action: str
    call: Callable[[Client], object]  # one SDK call, captured as the template
    reply: dict[str, str]  # what the capture listener answers, so the SDK parses a response
    variants: list[dict[str, str]]  # query parameters of the n-th request, cycled
    check: Callable[[dict[str, Any]], None]  # raises RuntimeError for a wrong response body
    checked: str  # what a passed check shows, for the report
    ram_policies: tuple[str, ...]  # system policies a RAM user needs for the action


def encrypt_workload(
    client: Client, plaintext_bytes: int, protection_level: str = "SOFTWARE"
) -> Workload:
    """An ``Aliyun_AES_256`` key; Encrypts of ``PLAINTEXT_POOL`` distinct plaintexts."""
    created = client.create_key(
        kms_models.CreateKeyRequest(
            key_spec="Aliyun_AES_256",
            key_usage="ENCRYPT/DECRYPT",
            protection_level=protection_level,
        )
    )
    key_id = created.body.key_metadata.key_id
    plaintexts = [
        base64.b64encode(os.urandom(plaintext_bytes)).decode() for _ in range(PLAINTEXT_POOL)
    ]
    # A real SDK round trip first: the key works and the server's key cache is warm.
    sealed = client.encrypt(kms_models.EncryptRequest(key_id=key_id, plaintext=plaintexts[0]))
    opened = client.decrypt(
        kms_models.DecryptRequest(ciphertext_blob=sealed.body.ciphertext_blob)
    ).body.plaintext
    if opened != plaintexts[0]:
        raise RuntimeError("SDK Encrypt/Decrypt round trip failed before the benchmark")
    sent = set(plaintexts)

    def check(answer: dict[str, Any]) -> None:
        """Decrypt the sampled response with the SDK: it must give back a plaintext sent."""
        blob = answer.get("CiphertextBlob")
        if answer.get("KeyId") != key_id or not isinstance(blob, str):
            raise RuntimeError(f"sampled Encrypt answered for another key: {answer}")
        try:
            base64.b64decode(blob, validate=True)
        except binascii.Error as exc:
            raise RuntimeError(f"sampled CiphertextBlob is not base64: {answer}") from exc
        clear = client.decrypt(kms_models.DecryptRequest(ciphertext_blob=blob)).body.plaintext
        if clear not in sent:
            raise RuntimeError(f"sampled ciphertext decrypts to something never sent: {answer}")

    return Workload(
        action="Encrypt",
        call=lambda sdk: sdk.encrypt(
            kms_models.EncryptRequest(key_id=key_id, plaintext=plaintexts[0])
        ),
        reply={"KeyId": key_id, "CiphertextBlob": "", "KeyVersionId": ""},
        variants=[{"Plaintext": plaintext} for plaintext in plaintexts],
        check=check,
        checked="real ciphertexts of the plaintexts sent",
        ram_policies=("AliyunKMSCryptoUserAccess",),
    )


def secret_workload(client: Client) -> Workload:
    """A text secret under the default encryption key; GetSecretValue of its current version.
    Every request asks for the same thing, so only the nonce and date differ."""
    name = f"bench-{os.urandom(4).hex()}"
    value = base64.b64encode(os.urandom(SECRET_BYTES * 3 // 4)).decode()
    client.create_secret(
        kms_models.CreateSecretRequest(
            secret_name=name, version_id="v1", secret_data=value, secret_data_type="text"
        )
    )
    got = client.get_secret_value(kms_models.GetSecretValueRequest(secret_name=name)).body
    if got.secret_data != value:
        raise RuntimeError("SDK CreateSecret/GetSecretValue round trip failed before the benchmark")

    def check(answer: dict[str, Any]) -> None:
        """The sampled response must carry the secret's value, as text, of version v1."""
        found = (answer.get("SecretName"), answer.get("SecretData"), answer.get("VersionId"))
        if found != (name, value, "v1") or answer.get("SecretDataType") != "text":
            raise RuntimeError(f"sampled GetSecretValue does not carry the secret: {answer}")

    return Workload(
        action="GetSecretValue",
        call=lambda sdk: sdk.get_secret_value(kms_models.GetSecretValueRequest(secret_name=name)),
        reply={"SecretName": name, "SecretData": "", "VersionId": "v1"},
        variants=[{}],
        check=check,
        checked="the secret's value",
        # kms:*Secret* covers kms:GetSecretValue; no key permission is needed for it.
        ram_policies=("AliyunKMSSecretAdminAccess",),
    )


@dataclass(frozen=True, slots=True)
class Load:
    """One replayed load: an action signed by one principal."""

    name: str
    workload: Workload
    template: Template
    access_key_id: str
    secret: str


def make_load(name: str, workload: Workload, access_key_id: str, secret: str) -> Load:
    template = capture_sdk_request(access_key_id, secret, workload.call, workload.reply)
    self_check(template, access_key_id, secret)
    return Load(name, workload, template, access_key_id, secret)


def make_ram_user(
    endpoint: str, admin_ak: str, admin_secret: str, policies: list[str]
) -> tuple[str, str]:
    """A RAM user with the given system policies and an AccessKey, made through the RAM API, so
    its requests pay for a real policy evaluation."""
    name = f"bench-{os.urandom(4).hex()}"
    with MamoriClient(endpoint, admin_ak, admin_secret) as admin:
        admin.call("CreateUser", RAM_VERSION, UserName=name)
        for policy in policies:
            admin.call(
                "AttachPolicyToUser",
                RAM_VERSION,
                PolicyType="System",
                PolicyName=policy,
                UserName=name,
            )
        key = admin.call("CreateAccessKey", RAM_VERSION, UserName=name)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["AccessKeySecret"])


def profile_path(base: Path, action: str, several: bool) -> Path:
    """``base`` itself for one action; ``x.GetSecretValue.collapsed`` and so on for several."""
    return base.with_name(f"{base.stem}.{action}{base.suffix}") if several else base


# --------------------------------------------------------------------------- checks and report


def check_samples(result: WrkResult, workload: Workload) -> int:
    """Check the sampled 200 responses of one load; the number checked."""
    checked = 0
    for body in result.raw["samples"]:
        try:
            answer = json.loads(body)
        except json.JSONDecodeError as exc:
            raise RuntimeError(f"sampled {workload.action} is not JSON: {body}") from exc
        workload.check(answer)
        checked += 1
    return checked


def check_run(loads: list[Load], results: list[WrkResult], health: WrkResult | None) -> list[str]:
    """The failures of a run (``results[i]`` is ``loads[i]``'s): precomputed requests ran out,
    non-200 responses, socket errors, wrong sampled responses. Prints what passed."""
    failures: list[str] = []
    for result in results:
        if result.raw["overflow"]:
            failures.append(
                f"{result.name}: wrk ran out of precomputed requests "
                f"({result.raw['overflow']:,} resent); raise --requests"
            )
    for result in (*results, *([health] if health else [])):
        if result.raw["non200"] or result.raw["non2xx"]:
            failures.append(f"{result.name}: non-200 responses, first: {result.raw['bad'][:1]}")
        if result.socket_errors:
            failures.append(f"{result.name}: {result.socket_errors} socket errors/timeouts")
    for load, result in zip(loads, results, strict=True):
        try:
            checked = check_samples(result, load.workload)
        except RuntimeError as exc:
            failures.append(str(exc))
            continue
        if checked:
            print(f"sampled {checked} {load.name} responses: {load.workload.checked}")
        else:
            failures.append(f"no {load.name} response with status 200 to sample")
    if not failures:
        accepted = ", ".join(f"{result.raw['requests']:,} {result.name}" for result in results)
        print(
            "SDK compatibility: generated requests match the SDK's wire bytes; "
            f"SDK-signed requests accepted: {accepted}"
        )
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return failures


def ratio_row(label: str, upper: WrkResult, lower: WrkResult) -> tuple[str, ...]:
    return (
        label,
        f"{upper.rps / lower.rps:.2f}x",
        f"{upper.p50_ms / lower.p50_ms:.2f}x",
        f"{upper.p99_ms / lower.p99_ms:.2f}x",
        *([""] * 5),
    )


def print_report(
    results: list[WrkResult],
    health: WrkResult | None,
    floor: float,
    ratios: Sequence[tuple[str, str, str]] = (),
) -> None:
    """The table of every load and ``/health``, the standard ratios, and ``ratios`` given as
    (label, upper load name, lower load name)."""
    rows: list[tuple[str, ...]] = [
        (
            "endpoint",
            "req/s",
            "p50 ms",
            "p99 ms",
            "responses",
            "non-200",
            "socket err",
            "server CPU",
            "wrk CPU",
        ),
    ]
    for result in (*results, *([health] if health else [])):
        rows.append(
            (
                result.name,
                f"{result.rps:,.0f}",
                f"{result.p50_ms:.2f}",
                f"{result.p99_ms:.2f}",
                f"{result.raw['requests']:,}",
                f"{result.raw['non200']:,}",
                f"{result.socket_errors:,}",
                f"{result.raw['server_cpu']:.0%}",
                f"{result.raw['wrk_cpu']:.0%}",
            )
        )
    by_name = {result.name: result for result in results}
    actions = [action for action in ACTIONS if action in by_name]
    for action in actions:
        if health is not None:
            rows.append(ratio_row(f"{action}/health", by_name[action], health))
    if "Encrypt" in by_name and "GetSecretValue" in by_name:
        rows.append(
            ratio_row("GetSecretValue/Encrypt", by_name["GetSecretValue"], by_name["Encrypt"])
        )
    for label, upper, lower in ratios:
        rows.append(ratio_row(label, by_name[upper], by_name[lower]))
    for action in actions:
        as_user = by_name.get(f"{action} (RAM user)")
        if as_user is not None:
            label = "RAM user/admin" if len(actions) == 1 else f"{action} RAM user/admin"
            rows.append(ratio_row(label, as_user, by_name[action]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    if "Encrypt" in by_name:
        verdict = "met" if by_name["Encrypt"].rps >= floor else "NOT met"
        print(f"\nEncrypt floor {floor:,.0f}/s: {verdict}")


def wrk_arguments(
    parser: argparse.ArgumentParser,
    *,
    requests: int,
    per: str,
    duration: int,
    each: str,
    connections: int = 16,
) -> None:
    """The load options every benchmark that replays signed requests with wrk takes:
    ``--requests`` (precomputed per ``per``), ``--duration`` (seconds per ``each``),
    ``--threads`` and ``--connections``, with this script's defaults."""
    parser.add_argument(
        "--requests",
        type=int,
        default=requests,
        help=f"signed requests to precompute per {per}; each is sent at most once ({requests})",
    )
    parser.add_argument(
        "--duration", type=int, default=duration, help=f"seconds per {each} ({duration})"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument(
        "--connections",
        type=int,
        default=connections,
        help=f"wrk connections in all ({connections})",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--action",
        dest="actions",
        action="append",
        choices=ACTIONS,
        default=None,
        help="action to measure; repeat for several in one run (default: Encrypt)",
    )
    wrk_arguments(
        parser, requests=200_000, per="action and principal", duration=10, each="endpoint"
    )
    parser.add_argument(
        "--plaintext-bytes",
        type=int,
        default=1024,
        help="Encrypt plaintext size before base64 (1024)",
    )
    parser.add_argument(
        "--store-url", default=None, help="server --store-url (default: SQLite in the temp dir)"
    )
    parser.add_argument("--floor", type=float, default=7000.0, help="Encrypt req/s to meet (7000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="server --workers (default 0: one per core; 1: one process)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="after the run, Encrypt on PostgreSQL: one node with --workers processes, then two "
        "nodes with half as many each on one database (made on the server URL names, dropped "
        "after), e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--ram-user",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run each action as a RAM user with the matching system policy "
        "(policy evaluation)",
    )
    parser.add_argument(
        "--py-spy-out",
        type=Path,
        default=None,
        help="record the server with py-spy during each action's first run (collapsed stacks; "
        "with several actions, one file each: NAME.ACTION.SUFFIX)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (server log, data, requests)"
    )
    args = parser.parse_args(argv)
    # Each action once, in the order asked for.
    args.actions = list(dict.fromkeys(args.actions or ["Encrypt"]))
    if args.py_spy_out is not None and shutil.which("py-spy") is None:
        parser.error("--py-spy-out needs py-spy on PATH (pip install py-spy)")
    if args.requests < args.threads:
        parser.error("--requests must be at least --threads")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


def run_script(
    script: str,
    args: argparse.Namespace,
    benchmark: Callable[[argparse.Namespace, Server, Path], int],
) -> int:
    """What every benchmark script does around its run: check for wrk, start a server on a
    temp dir (``args.store_url``), run ``benchmark``, clean up unless ``args.keep``."""
    if shutil.which("wrk") is None:
        print(
            f"{script} needs wrk (https://github.com/wg/wrk), which is not on PATH.\n"
            "Install it, e.g. on Debian/Ubuntu: sudo apt-get install -y wrk",
            file=sys.stderr,
        )
        return 2
    # The SDK sends even 127.0.0.1 traffic through HTTP(S)_PROXY and ignores NO_PROXY.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)

    workdir = Path(tempfile.mkdtemp(prefix=f"mamori-bench-{Path(script).stem}-"))
    try:
        with running_server(
            workdir, args.store_url, getattr(args, "workers", 1), tls=getattr(args, "tls", False)
        ) as server:
            return benchmark(args, server, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return run_script("encrypt.py", parse_args(argv), benchmark)


def run_loads(
    args: argparse.Namespace,
    server: Server,
    workdir: Path,
    loads: list[Load],
    py_spy_out: Path | None = None,
) -> tuple[list[WrkResult], WrkResult]:
    """Sign ``args.requests`` copies of each load, replay them (A B … B A, half the duration
    each, when there are several) and then ``GET /health``; the merged result of each load, in
    order, and the health result. ``args`` carries requests, threads, connections, duration."""
    load1, load5, load15 = os.getloadavg()
    print(
        f"mamori {server.endpoint} (pid {server.process.pid}); {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average {load1:.2f} {load5:.2f} {load15:.2f}"
    )
    # Several loads run A B … B A, half the duration each: whatever runs later meets a fuller
    # nonce cache and a warmer heap, and the mirrored order cancels that drift.
    halves = 2 if len(loads) > 1 else 1
    print(f"signing {args.requests * len(loads):,} requests with the SDK's signer…")
    started = time.monotonic()
    batches: dict[tuple[str, int], Path] = {}
    for load in loads:
        for half in range(halves):
            batch = workdir / f"requests-{len(batches)}"
            generate(batch, args.requests // halves, args.threads, load, server.endpoint)
            batches[(load.name, half)] = batch
    print(f"  done in {time.monotonic() - started:.1f} s")

    order = [(load.name, 0) for load in loads]
    if halves == 2:
        order += [(load.name, 1) for load in reversed(loads)]
    profiled = {load.workload.action: 0 for load in loads}
    runs: dict[str, list[WrkResult]] = {}
    for name, half in order:
        profile = None
        if py_spy_out is not None and profiled.get(name) == half:
            output = profile_path(py_spy_out.resolve(), name, len(profiled) > 1)
            profile = Profile(str(shutil.which("py-spy")), server.process.pid, output)
            print(f"py-spy profile of the first {name} run: {output}")
        runs.setdefault(name, []).append(
            replay(
                server,
                name,
                batches[(name, half)],
                threads=args.threads,
                connections=args.connections,
                duration=max(1, args.duration // halves),
                profile=profile,
            )
        )
    if time.monotonic() - started > DATE_WINDOW_S:
        print("warning: signing plus the run exceeded 14 min; late requests may be stale")
    results = [merge(runs[load.name]) for load in loads]
    health = replay(
        server,
        "/health",
        None,
        threads=args.threads,
        connections=args.connections,
        duration=args.duration,
    )
    return results, health


def benchmark(args: argparse.Namespace, server: Server, workdir: Path) -> int:
    access_key_id, secret = read_credentials(server.data_dir)
    client = new_sdk(server.endpoint, access_key_id, secret)
    workloads = [
        encrypt_workload(client, args.plaintext_bytes)
        if action == "Encrypt"
        else secret_workload(client)
        for action in args.actions
    ]
    loads = [make_load(w.action, w, access_key_id, secret) for w in workloads]
    if args.ram_user:
        policies = list(dict.fromkeys(p for w in workloads for p in w.ram_policies))
        user_ak, user_secret = make_ram_user(server.endpoint, access_key_id, secret, policies)
        for index, workload in enumerate(workloads):
            user_load = make_load(f"{workload.action} (RAM user)", workload, user_ak, user_secret)
            loads.insert(2 * index + 1, user_load)

    results, health = run_loads(args, server, workdir, loads, args.py_spy_out)
    load1, load5, load15 = os.getloadavg()
    print(
        f"\nwrk: {args.threads} thread(s) x {args.connections} connections, "
        f"{args.duration} s per endpoint"
        + (f"; {args.plaintext_bytes}-byte plaintext" if "Encrypt" in args.actions else "")
        + (f"; {SECRET_BYTES}-byte secret" if "GetSecretValue" in args.actions else "")
        + f"; load average {load1:.2f} {load5:.2f} {load15:.2f}\n"
    )
    print_report(results, health, args.floor)
    failed = bool(check_run(loads, results, health))
    if args.postgres:
        failed |= postgres_nodes(args, workdir)
    return 1 if failed else 0


# --------------------------------------------------------------------------- nodes on PostgreSQL


@contextlib.contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL that ``server_url`` reaches, dropped afterwards."""
    import psycopg

    name = f"mamori_bench_{os.urandom(6).hex()}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def encrypt_on_nodes(
    args: argparse.Namespace, name: str, servers: list[Server], workdir: Path
) -> tuple[Load, WrkResult]:
    """Signed Encrypts replayed on every node at once, each by its own wrk with its share of
    the threads and connections; one result: the sum of the rates, the worst p50 and p99."""
    access_key_id, secret = read_credentials(servers[0].data_dir)
    workload = encrypt_workload(
        new_sdk(servers[0].endpoint, access_key_id, secret), args.plaintext_bytes
    )
    load = make_load(name, workload, access_key_id, secret)
    threads = max(1, args.threads // len(servers))
    batches = []
    for index, server in enumerate(servers):
        batch = workdir / f"requests-{name.replace(' ', '-')}-{index}"
        # Each node checks the Host header it is signed for: one batch per node.
        generate(batch, args.requests // len(servers), threads, load, server.endpoint)
        batches.append(batch)
    with ThreadPoolExecutor(len(servers)) as pool:
        futures = [
            pool.submit(
                replay,
                server,
                name,
                batch,
                threads=threads,
                connections=max(1, args.connections // len(servers)),
                duration=args.duration,
            )
            for server, batch in zip(servers, batches, strict=True)
        ]
        runs = [future.result() for future in futures]
    raw: dict[str, Any] = dict(runs[0].raw)
    for key, value in raw.items():
        if isinstance(value, list):
            raw[key] = [item for run in runs for item in run.raw[key]]
        elif key in ("p50_us", "p99_us") or key == "duration_us":
            raw[key] = max(float(run.raw[key]) for run in runs)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            raw[key] = sum(run.raw[key] for run in runs)
    return load, WrkResult(name, raw)


def postgres_nodes(args: argparse.Namespace, workdir: Path) -> bool:
    """Encrypt on one PostgreSQL database: one node with all the workers, then two nodes with
    half each (the nonce store round trip is what the second adds). True when a check failed."""
    total = args.workers or os.cpu_count() or 1
    if total < 2 or total % 2:
        print(f"FAIL: two nodes need an even number of workers in all, not {total}")
        return True
    first_dir, second_dir = workdir / "pg-first", workdir / "pg-second"
    first_dir.mkdir()
    (second_dir / "data").mkdir(parents=True)
    failures: list[str] = []
    with throwaway_database(args.postgres) as url:
        print(f"\nPostgreSQL: one node with {total} workers, then two nodes with {total // 2} each")
        with running_server(first_dir, url, total) as server:
            one_load, one = encrypt_on_nodes(
                args, f"Encrypt, 1 node x {total}", [server], first_dir
            )
            # Sampled ciphertexts are checked by decrypting them: while the node still runs.
            failures += check_run([one_load], [one], None)
        # The second node shares the store and the root key that seals its keyring.
        for name in ("root.key", "admin.credentials"):
            shutil.copy2(first_dir / "data" / name, second_dir / "data" / name)
        with (
            running_server(first_dir, url, total // 2) as first,
            running_server(second_dir, url, total // 2) as second,
        ):
            two_load, two = encrypt_on_nodes(
                args, f"Encrypt, 2 nodes x {total // 2}", [first, second], workdir
            )
            failures += check_run([two_load], [two], None)
    print()
    print_report([one, two], None, args.floor, [("2 nodes/1 node", two.name, one.name)])
    return bool(failures)


if __name__ == "__main__":
    sys.exit(main())
