"""The daemon against a secured Mosquitto: TLS, passwords, client certificates, refusals.

A throwaway PKI is made with openssl for the module: a site CA with a server certificate for
127.0.0.1/localhost and client certificates, and a second, unrelated CA that signs a client
certificate and a server certificate the gateway must not trust. One Mosquitto process is
configured by this file (not the conftest fixture: no anonymous access here) with three TLS
listeners:

- ``password``: TLS, username/password from a ``mosquitto_passwd`` file;
- ``cert``: TLS with ``require_certificate`` and ``use_identity_as_username`` (no password);
- ``rogue``: TLS with a server certificate signed by the other CA.

Every accepted connection is proved end to end: an alarm is published over the same secured
listener and the incident must appear in the store. Every refusal must be logged, retried, and
leave the daemon running. No log line and no ``check`` output may carry a password or a
private key.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config.site import ENV_BROKER, ENV_CONSOLE, ENV_STORE, load_config
from gateway.daemon import broker as embedded
from tests.support.processes import ROOT, free_port, query, wait_port, wait_until
from tests.support.sites import fire_payload, site_files

pytestmark = [pytest.mark.broker, pytest.mark.slow]

GATEWAY_USER = "gateway"
# URL-special characters on purpose: the override must carry them percent-encoded
PASSWORD = "Zq7:p@ss/w0rd-TLS!"
WRONG_PASSWORD = "Wr0ng-guess-Kx4"
DEVICE_USER = "device"
DEVICE_PASSWORD = "Dv1-pa55-Ru8"
LATE_USER = "late"  # its password at the broker is not the one the gateway has, at first
CLIENT_CN = "gateway-cert"  # the username Mosquitto takes from the client certificate
ALARM_TOPIC = "demo/fire/b1/f12/z3"
SCRUBBED_ENV = {ENV_BROKER, ENV_STORE, ENV_CONSOLE}


# ----------------------------------------------------------------------------- PKI


@dataclass(frozen=True)
class Pki:
    directory: Path

    def __getitem__(self, name: str) -> Path:
        return self.directory / name

    def private_keys(self) -> list[str]:
        return [p.read_text() for p in sorted(self.directory.glob("*.key"))]


def _openssl(directory: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, (args, result.stderr)


def _new_ca(directory: Path, name: str) -> None:
    _openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def _new_cert(directory: Path, name: str, ca: str, *, server: bool) -> None:
    _openssl(directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={'localhost' if server else name}")
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        + ("extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
           if server else "extendedKeyUsage=clientAuth\n"))
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
             f"{ca}.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
             "-extfile", extensions.name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    _new_ca(directory, "ca")
    _new_ca(directory, "other-ca")
    _new_cert(directory, "server", "ca", server=True)
    _new_cert(directory, CLIENT_CN, "ca", server=False)
    _new_cert(directory, "device-cert", "ca", server=False)
    _new_cert(directory, "rogue-client", "other-ca", server=False)
    _new_cert(directory, "rogue-server", "other-ca", server=True)
    return Pki(directory)


# ----------------------------------------------------------------------------- the broker


@dataclass
class SecureBroker:
    process: subprocess.Popen[bytes]
    conf_path: Path
    ports: dict[str, int]

    passwd: Path

    def log(self) -> str:
        return embedded.log_path(self.conf_path).read_text(errors="replace")


def set_password(broker: SecureBroker, user: str, password: str) -> None:
    subprocess.run(["mosquitto_passwd", "-b", str(broker.passwd), user, password], check=True,
                   capture_output=True, timeout=30)
    broker.process.send_signal(signal.SIGHUP)  # Mosquitto rereads its password file


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    directory = tmp_path_factory.mktemp("secure-broker")
    passwd = directory / "passwd"
    passwd.touch(mode=0o600)
    for user, password in ((GATEWAY_USER, PASSWORD), (DEVICE_USER, DEVICE_PASSWORD),
                           (LATE_USER, f"not-{WRONG_PASSWORD}")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                       capture_output=True, timeout=30)
    ports = {"password": free_port(), "cert": free_port(), "rogue": free_port()}
    lines = [
        # started as root, mosquitto would switch to its own user and not read our files
        *(["user root"] if os.geteuid() == 0 else []),
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {passwd}",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        "",
        f"listener {ports['password']} 127.0.0.1",
        f"cafile {pki['ca.crt']}",
        f"certfile {pki['server.crt']}",
        f"keyfile {pki['server.key']}",
        "",
        f"listener {ports['cert']} 127.0.0.1",
        f"cafile {pki['ca.crt']}",
        f"certfile {pki['server.crt']}",
        f"keyfile {pki['server.key']}",
        "require_certificate true",
        "use_identity_as_username true",
        "",
        f"listener {ports['rogue']} 127.0.0.1",
        f"cafile {pki['other-ca.crt']}",
        f"certfile {pki['rogue-server.crt']}",
        f"keyfile {pki['rogue-server.key']}",
    ]
    conf_path = directory / "mosquitto.conf"
    process = embedded.start_mosquitto("\n".join(lines) + "\n", conf_path)
    try:
        for port in ports.values():
            wait_port("127.0.0.1", port)
    except TimeoutError:
        embedded.stop(process)
        raise RuntimeError(embedded.log_path(conf_path).read_text()) from None
    yield SecureBroker(process, conf_path, ports, passwd)
    embedded.stop(process)


class SecurePublisher:
    """A device on the secured broker: QoS 1, TLS, a password or a client certificate."""

    def __init__(self, port: int, pki: Pki, *, username: str | None = None,
                 password: str | None = None, cert: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"device-{uuid.uuid4().hex[:8]}")
        self.client.tls_set(ca_certs=str(pki["ca.crt"]),
                            certfile=str(pki[f"{cert}.crt"]) if cert else None,
                            keyfile=str(pki[f"{cert}.key"]) if cert else None)
        if username:
            self.client.username_pw_set(username, password)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), f"broker did not acknowledge the publish to {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ----------------------------------------------------------------------------- the gateway


@dataclass
class Gateway:
    """``python -m gateway run`` with the broker from the config or the environment only.

    (conftest's ``Daemon`` always passes ``--broker`` and waits for readiness; a refused
    gateway never gets ready.)
    """

    config: Path
    store: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "-c", str(self.config), "--store",
                 str(self.store), "--log-json", "--console", "off"],
                stdout=log_file, stderr=log_file, cwd=ROOT,
                env={**env, "PYTHONUNBUFFERED": "1", **self.env})

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self, name: str) -> list[dict[str, object]]:
        found = []
        for line in self.log().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == name:
                found.append(record)
        return found

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_event(self, name: str, count: int = 1, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.running(), f"daemon exited: {self.log()[-3000:]}"
            if len(self.events(name)) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {count}x {name!r} in: {self.log()[-3000:]}")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=15)


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[Gateway]]:
    made: list[Gateway] = []
    yield made
    for gw in made:
        if gw.running():
            gw.stop()


def make_gateway(made: list[Gateway], directory: Path, broker: dict[str, object],
                 env: dict[str, str] | None = None) -> Gateway:
    """The demo site (MQTT only) with this ``broker:`` section, in a folder of its own."""
    directory.mkdir(parents=True, exist_ok=True)
    config = site_files(directory)
    site = yaml.safe_load(config.read_text())
    site.pop("supervision", None)  # the shipped one names Modbus links this site has not got
    site["broker"] = {"client_id": f"gw-tls-{uuid.uuid4().hex[:6]}",
                      "subscriptions": ["demo/#", "zigbee2mqtt/#"], **broker}
    config.write_text(yaml.safe_dump(site, allow_unicode=True))
    gw = Gateway(config, directory / "store.sqlite3", directory / "daemon.log", env or {})
    made.append(gw)
    return gw


def incidents(gw: Gateway) -> int:
    if not gw.store.exists():
        return 0
    return int(query(gw.store, "SELECT count(*) FROM incidents")[0][0])


def alarm_opens_an_incident(gw: Gateway, publisher: SecurePublisher) -> None:
    try:
        publisher.publish(ALARM_TOPIC, fire_payload("SD-01"))
    finally:
        publisher.close()
    wait_until(lambda: incidents(gw) == 1, timeout=15, what="the incident in the store")
    assert query(gw.store, "SELECT type, status FROM incidents") == [("fire", "open")]


def assert_no_secrets(text: str, pki: Pki, where: str) -> None:
    secrets = [PASSWORD, quote(PASSWORD, safe=""), WRONG_PASSWORD, DEVICE_PASSWORD]
    for secret in secrets:
        assert secret not in text, f"a password in {where}"
    assert "PRIVATE KEY" not in text, f"a private key in {where}"
    for key in pki.private_keys():
        body = [line for line in key.splitlines() if line and not line.startswith("-----")]
        assert body
        for line in body:
            assert line not in text, f"a private key's contents in {where}"


def check_output(config: Path, env: dict[str, str] | None = None) -> str:
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    result = subprocess.run([sys.executable, "-m", "gateway", "check", "-c", str(config)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
                            env={**base, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


# ----------------------------------------------------------------------------- accepted


def test_tls_and_password_from_the_site_config(tmp_path: Path, pki: Pki,
                                               secure_broker: SecureBroker,
                                               gateways: list[Gateway]) -> None:
    port = secure_broker.ports["password"]
    gw = make_gateway(gateways, tmp_path / "gw", {
        "host": "127.0.0.1", "port": port, "username": GATEWAY_USER, "password": PASSWORD,
        "tls": {"ca_file": str(pki["ca.crt"])}})
    gw.start()
    gw.wait_event("gateway_ready")
    (ready,) = gw.events("gateway_ready")
    assert ready["broker"] == f"mqtts://{GATEWAY_USER}@127.0.0.1:{port}"
    alarm_opens_an_incident(gw, SecurePublisher(port, pki, username=DEVICE_USER,
                                                password=DEVICE_PASSWORD))

    out = check_output(gw.config)
    assert f"mqtts://{GATEWAY_USER}@127.0.0.1:{port}" in out
    assert gw.stop() == 0
    assert_no_secrets(gw.log(), pki, "the daemon's log")
    assert_no_secrets(out, pki, "check")
    broker = load_config(gw.config, environ={}).broker
    assert_no_secrets(repr(broker) + broker.describe() + str(broker), pki, "BrokerConfig")


def test_tls_with_the_password_only_in_the_environment(tmp_path: Path, pki: Pki,
                                                       secure_broker: SecureBroker,
                                                       gateways: list[Gateway]) -> None:
    port = secure_broker.ports["password"]
    url = f"mqtts://{GATEWAY_USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}"
    # the file names another port and no credentials: connecting proves the override is used
    gw = make_gateway(gateways, tmp_path / "gw", {
        "host": "127.0.0.1", "port": free_port(), "tls": {"ca_file": str(pki["ca.crt"])}},
        env={ENV_BROKER: url})
    # no tls: section at all: mqtts:// alone must mean TLS (here with the CA as the system's),
    # never the password in clear to a port that would then refuse it
    bare = make_gateway(gateways, tmp_path / "bare", {"host": "127.0.0.1", "port": 1},
                        env={ENV_BROKER: url, "SSL_CERT_FILE": str(pki["ca.crt"])})
    gw.start()
    bare.start()
    gw.wait_event("gateway_ready")
    bare.wait_event("gateway_ready")
    # both are subscribed: one alarm, one incident in each store
    alarm_opens_an_incident(gw, SecurePublisher(port, pki, username=DEVICE_USER,
                                                password=DEVICE_PASSWORD))
    wait_until(lambda: incidents(bare) == 1, what="the incident in the second store")

    out = check_output(gw.config, {ENV_BROKER: url})
    assert f"mqtts://{GATEWAY_USER}@127.0.0.1:{port}" in out
    bare_out = check_output(bare.config, {ENV_BROKER: url})
    assert f"mqtts://{GATEWAY_USER}@127.0.0.1:{port}" in bare_out
    for each in (gw, bare):
        assert each.stop() == 0
        assert_no_secrets(each.log(), pki, f"the log of {each.config.parent.name}")
        (ready,) = each.events("gateway_ready")
        assert ready["broker"] == f"mqtts://{GATEWAY_USER}@127.0.0.1:{port}"
    assert_no_secrets(out + bare_out, pki, "check")
    broker = load_config(gw.config, environ={ENV_BROKER: url}).broker
    assert broker.password == PASSWORD
    assert_no_secrets(repr(broker) + broker.describe() + str(broker), pki, "BrokerConfig")


def test_tls_with_a_client_certificate_and_no_password(tmp_path: Path, pki: Pki,
                                                       secure_broker: SecureBroker,
                                                       gateways: list[Gateway]) -> None:
    port = secure_broker.ports["cert"]
    # relative paths, beside the config: resolved against its folder, not the working dir
    tls_dir = tmp_path / "gw" / "tls"
    tls_dir.mkdir(parents=True)
    for name in ("ca.crt", f"{CLIENT_CN}.crt", f"{CLIENT_CN}.key"):
        shutil.copy(pki[name], tls_dir / name)
    gw = make_gateway(gateways, tmp_path / "gw", {
        "host": "127.0.0.1", "port": port,
        "tls": {"ca_file": "tls/ca.crt", "cert_file": f"tls/{CLIENT_CN}.crt",
                "key_file": f"tls/{CLIENT_CN}.key"}})
    gw.start()
    gw.wait_event("gateway_ready")
    alarm_opens_an_incident(gw, SecurePublisher(port, pki, cert="device-cert"))

    out = check_output(gw.config)
    assert f"mqtts://127.0.0.1:{port}" in out
    assert gw.stop() == 0
    assert_no_secrets(gw.log(), pki, "the daemon's log")
    assert_no_secrets(out, pki, "check")
    # Mosquitto took the certificate's CN as the user name: the certificate was presented
    client_id = yaml.safe_load(gw.config.read_text())["broker"]["client_id"]
    assert f"as {client_id} (p2, c0, k30, u'{CLIENT_CN}')" in secure_broker.log()


# ----------------------------------------------------------------------------- refused


def refusal(gw: Gateway, *says: str, event: str = "broker_refused") -> dict[str, object]:
    """The one refusal the gateway logged, once it has: an error naming the reason (one of
    ``says``)."""
    gw.wait_event(event)
    (found,) = gw.events(event)
    assert any(s in str(found["reason"]) for s in says), found
    assert found["level"] == "error"
    assert "forever" in str(found["retry"])
    return found


def test_refusals_are_reported_retried_and_survived(tmp_path: Path, pki: Pki,
                                                    secure_broker: SecureBroker,
                                                    gateways: list[Gateway]) -> None:
    ca = str(pki["ca.crt"])
    ports = secure_broker.ports
    wrong_password = make_gateway(gateways, tmp_path / "wrong-password", {
        "host": "127.0.0.1", "port": ports["password"], "username": LATE_USER,
        "password": WRONG_PASSWORD, "tls": {"ca_file": ca}})
    foreign_cert = make_gateway(gateways, tmp_path / "foreign-cert", {
        "host": "127.0.0.1", "port": ports["cert"],
        "tls": {"ca_file": ca, "cert_file": str(pki["rogue-client.crt"]),
                "key_file": str(pki["rogue-client.key"])}})
    untrusted_server = make_gateway(gateways, tmp_path / "untrusted-server", {
        "host": "127.0.0.1", "port": ports["rogue"],
        "username": GATEWAY_USER, "password": PASSWORD, "tls": {"ca_file": ca}})
    # its CA file is not there yet (deployed after the gateway started, say)
    late_ca = tmp_path / "late-ca" / "tls" / "ca.crt"
    missing_ca = make_gateway(gateways, tmp_path / "late-ca", {
        "host": "127.0.0.1", "port": ports["password"], "username": GATEWAY_USER,
        "password": PASSWORD, "tls": {"ca_file": "tls/ca.crt"}})
    broker_log_before = len(secure_broker.log())
    for gw in gateways:
        gw.start()

    refused = refusal(wrong_password, "Not authorized")
    assert f"account {LATE_USER!r}" in str(refused["check"])
    # TLS 1.3: the broker's alert arrives after the client's side of the handshake, and the
    # connection's reset sometimes overtakes it: then the likely cause is named
    refused = refusal(foreign_cert, "unknown ca", "does not trust the client certificate")
    assert "cert_file/key_file" in str(refused["check"])
    # the broker's certificate is not from our CA: no CONNECT, so no password, is ever sent
    refused = refusal(untrusted_server, "CERTIFICATE_VERIFY_FAILED")
    assert "ca_file" in str(refused["check"])
    # (and relative to the config's folder, not to the daemon's working directory)
    refusal(missing_ca, f"broker.tls.ca_file {late_ca}: No such file or directory",
            event="broker_tls_unusable")

    # they keep trying (with backoff), and say it once per reason rather than per attempt
    def attempts(port: int) -> int:
        tail = secure_broker.log()[broker_log_before:]
        return tail.count(f" on port {port}.") // 2  # a reachability probe, then the try

    wait_until(lambda: min(attempts(port) for port in ports.values()) >= 3, timeout=20,
               what="three tries each")
    for gw in gateways:
        assert gw.running(), gw.log()[-3000:]
        refusals = gw.events("broker_refused") + gw.events("broker_tls_unusable")
        assert len(refusals) == 1, refusals
        assert not gw.events("broker_connected")
        assert "Traceback" not in gw.log()
    assert len(untrusted_server.events("broker_unreachable")) == 0

    # the wrong password becomes the right one at the broker, the CA file arrives: the next
    # try gets through
    set_password(secure_broker, LATE_USER, WRONG_PASSWORD)
    late_ca.parent.mkdir()
    shutil.copy(pki["ca.crt"], late_ca)
    wrong_password.wait_event("gateway_ready", timeout=30)
    missing_ca.wait_event("gateway_ready", timeout=30)
    alarm_opens_an_incident(wrong_password, SecurePublisher(
        ports["password"], pki, username=DEVICE_USER, password=DEVICE_PASSWORD))
    wait_until(lambda: incidents(missing_ca) == 1, what="the incident in the second store")
    for gw in gateways:
        assert gw.stop() == 0
        assert_no_secrets(gw.log(), pki, f"the log of {gw.config.parent.name}")
