"""Everything in deploy/ that can be checked here: files parse, name real commands, and the NATS
configs start real servers (plain and TLS); key rotation keeps old events verifiable."""

from __future__ import annotations

import configparser
import datetime
import re
import ssl
import subprocess
import sys
from pathlib import Path

import nats
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.topology import Ports, Secrets, _render, render_hub_conf, render_node_conf
from shared.envelope import Envelope
from shared.nats_server import NatsServer, nats_server_binary
from shared.settings import HubSettings
from shared.signing import NodeKeys, NodeSigner
from tests.test_contracts import envelope_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def hub_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.parametrize(
    "unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=lambda p: p.name
)
def test_systemd_units_parse_and_run_real_commands(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.read(unit)
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    exec_start = parser["Service"]["ExecStart"].split()
    assert exec_start[0].endswith("/hub")
    subcommand = [a for a in exec_start[1:3]]
    assert hub_cli(*subcommand, "--help").returncode == 0, subcommand
    # hub stops its children in order: the stop signal goes to it alone
    assert parser["Service"]["KillMode"] == "mixed"
    env_file = parser["Service"]["EnvironmentFile"]  # documented beside the unit
    example = "hub.env.example" if "hub.env" in env_file else "node.env.example"
    assert env_file.startswith("/etc/hub-ledger/") and (unit.parent / example).exists()


def test_compose_and_kubernetes_manifests_parse() -> None:
    compose = yaml.safe_load((DEPLOY / "container" / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        assert hub_cli(*service["command"][:2], "--help").returncode == 0, name
    documents = list(yaml.safe_load_all((DEPLOY / "k8s" / "hub.yaml").read_text()))
    assert {d["kind"] for d in documents} == {"Namespace", "Deployment", "Service"}
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert hub_cli(*container["args"][:2], "--help").returncode == 0
    assert yaml.safe_load((DEPLOY / "k8s" / "nats-values.yaml").read_text())["config"]["jetstream"][
        "enabled"
    ]


def test_dockerfile_copies_what_exists() -> None:
    dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["hub"]' in dockerfile


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"], capture_output=True, text=True
    )


def test_rendered_nats_configs_pass_the_servers_own_check(tmp_path: Path) -> None:
    settings = HubSettings(hub="heart-of-england", data_dir=tmp_path)
    secrets = Secrets.load_or_create(tmp_path / "secrets", settings.nodes)
    ports = Ports()
    (tmp_path / "hub.conf").write_text(render_hub_conf(settings, secrets, ports, tmp_path / "hub"))
    result = _check_config(tmp_path / "hub.conf")
    assert result.returncode == 0, result.stderr
    for node in settings.nodes:
        (tmp_path / f"{node}.conf").write_text(
            render_node_conf(settings, node, secrets, ports, tmp_path / node)
        )
        result = _check_config(tmp_path / f"{node}.conf")
        assert result.returncode == 0, result.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_hub_with_tls_accepts_tls_clients_only(tmp_path: Path) -> None:
    settings = HubSettings(hub="heart-of-england", data_dir=tmp_path)
    secrets = Secrets.load_or_create(tmp_path / "secrets", settings.nodes)
    cert, key = _self_signed(tmp_path)
    ports = Ports()
    conf = tmp_path / "hub-tls.conf"
    conf.write_text(
        _render(
            "hub.conf.j2",
            server_name="hub",
            host=ports.host,
            port=ports.hub,
            http_port=None,
            leaf_port=ports.hub_leaf,
            store_dir=tmp_path / "hub",
            tls={"cert": cert, "key": key, "ca": None},
            hub=settings.hub,
            nodes=settings.nodes,
            hub_stream="HL_H_HUB",
            dlq_stream="HL_H_DLQ",
            dlq_subjects="hldlq.h.>",
            durable="reporting",
            secrets={**secrets.nats["hub"], "leaf": secrets.nats["leaf"]},
        )
    )
    server = NatsServer(tmp_path / "hub", port=ports.hub, config_file=conf).start()
    try:
        context = ssl.create_default_context(cafile=str(cert))
        url = f"tls://admin:{secrets.nats['hub']['admin']}@localhost:{ports.hub}"
        nc = await nats.connect(
            url, tls=context, tls_hostname="localhost", max_reconnect_attempts=0
        )
        assert nc.is_connected
        await nc.close()
        # the server demands TLS: a client that cannot verify its certificate never connects
        with pytest.raises(ssl.SSLError):
            await nats.connect(
                f"nats://admin:{secrets.nats['hub']['admin']}@127.0.0.1:{ports.hub}",
                max_reconnect_attempts=0,
                connect_timeout=1,
                allow_reconnect=False,
            )
    finally:
        server.stop()


def _batch_of_one(signer: NodeSigner) -> tuple[Envelope, bytes, dict[str, str]]:
    raw = envelope_for("ActivityDelivered", 1, {})
    envelope = Envelope.model_validate_json(raw)
    return envelope, raw, signer.sign_batch(envelope.hub, envelope.node, [raw])[0]


def test_events_signed_before_a_key_rotation_still_verify(tmp_path: Path) -> None:
    secrets = Secrets.load_or_create(tmp_path, ["coventry"])
    before = _batch_of_one(NodeSigner.from_file(secrets.node_key_file("coventry")))
    secrets.rotate_node_key("coventry")
    after = _batch_of_one(NodeSigner.from_file(secrets.node_key_file("coventry")))
    import json

    keys = NodeKeys(json.loads(secrets.node_keys_file.read_text()))
    assert keys.problem(*before) is None
    assert keys.problem(*after) is None
    forged = _batch_of_one(NodeSigner.generate())
    assert "does not verify" in (keys.problem(*forged) or "")
