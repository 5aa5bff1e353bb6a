"""Kafka over TLS and SASL by settings: the right client arguments and FastStream security object for
each protocol and mechanism, every client we build uses them, bad combinations are refused at start-up
with a message naming the variables (and never the secrets), and the TLS context really trusts the CA
file it is given (a handshake against a local TLS server signed by a throwaway CA)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from libs.common import broker as broker_module
from libs.common.broker import ensure_topics, make_broker, make_producer
from libs.common.kafka_security import kafka_client_options, kafka_security, kafka_ssl_context
from libs.common.settings import CommonSettings

PASSWORD = "s3cret-sasl-password"


# -- a throwaway CA, a broker certificate for localhost, a client certificate -------------------------
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        assert issuer is not None
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    pem = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            pem += item.public_bytes(serialization.Encoding.PEM)
        else:
            pem += item.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
    path.write_bytes(pem)
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ca.pem (the CA), broker.pem/broker-key.pem (localhost), client.pem/client-key.pem, other-ca.pem."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("Atelier test CA", ca_key, None, ca_key, ca=True)
    broker_key, client_key, other_key = _key(), _key(), _key()
    return {
        "ca": _write(root / "ca.pem", ca),
        "broker": _write(root / "broker.pem", _certificate("localhost", broker_key, ca, ca_key, ca=False)),
        "broker_key": _write(root / "broker-key.pem", broker_key),
        "client": _write(
            root / "client.pem", _certificate("atelier-client", client_key, ca, ca_key, ca=False)
        ),
        "client_key": _write(root / "client-key.pem", client_key),
        "other_ca": _write(
            root / "other-ca.pem", _certificate("Other CA", other_key, None, other_key, ca=True)
        ),
    }


def settings_of(**values: Any) -> CommonSettings:
    """Settings from raw values, as the environment gives them (strings, paths)."""
    return CommonSettings.model_validate(values)


def sasl(protocol: str, mechanism: str, **extra: Any) -> CommonSettings:
    return settings_of(
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="atelier",
        kafka_sasl_password=PASSWORD,
        **extra,
    )


# -- settings -> client arguments and FastStream's security object -------------------------------------
def test_plaintext_by_default_so_the_local_stack_keeps_working() -> None:
    settings = CommonSettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert kafka_client_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert kafka_security(settings) is None
    assert kafka_ssl_context(settings) is None


SECURITY_CLASSES = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
@pytest.mark.parametrize("mechanism", sorted(SECURITY_CLASSES))
def test_sasl_gives_the_mechanism_and_credentials(protocol: str, mechanism: str) -> None:
    settings = sasl(protocol, mechanism)
    options = kafka_client_options(settings)
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "atelier"
    assert options["sasl_plain_password"] == PASSWORD
    assert ("ssl_context" in options) == (protocol == "SASL_SSL")

    security = kafka_security(settings)
    assert type(security) is SECURITY_CLASSES[mechanism]
    # FastStream turns its object into the same aiokafka arguments as ours: one meaning, two shapes
    parsed = parse_security(security)
    assert isinstance(parsed.pop("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")
    options.pop("ssl_context", None)
    assert parsed == options


def test_tls_only_verifies_the_broker_with_the_ca_file(pki: dict[str, Path]) -> None:
    settings = settings_of(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"])
    options = kafka_client_options(settings)
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(pair[0] for pair in c["subject"])["commonName"] for c in context.get_ca_certs()] == [
        "Atelier test CA"
    ]
    security = kafka_security(settings)
    assert type(security) is BaseSecurity and security.use_ssl
    assert parse_security(security)["security_protocol"] == "SSL"


def test_lower_case_and_empty_values_read_as_an_operator_means_them() -> None:
    settings = settings_of(
        kafka_security_protocol="sasl_ssl",
        kafka_sasl_mechanism="scram-sha-512",
        kafka_sasl_username="atelier",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_ca_file="",
    )
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_ssl_ca_file is None
    # the password is a secret: not in the settings' repr
    assert PASSWORD not in repr(settings)


# -- every client we build gets them ------------------------------------------------------------------
async def test_every_kafka_client_we_build_uses_the_security_settings(
    pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sasl("SASL_SSL", "SCRAM-SHA-256", kafka_ssl_ca_file=pki["ca"])

    producer = make_producer(settings)
    client = producer.client
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-256"
    assert client._sasl_plain_username == "atelier" and client._sasl_plain_password == PASSWORD
    assert isinstance(client._ssl_context, ssl.SSLContext)

    broker = make_broker(settings)  # its consumers and producer connect with these arguments
    kwargs = broker._connection_kwargs
    assert kwargs["security_protocol"] == "SASL_SSL" and kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kwargs["sasl_plain_password"] == PASSWORD and isinstance(kwargs["ssl_context"], ssl.SSLContext)

    made: list[dict[str, Any]] = []

    class RecordingAdmin:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        async def start(self) -> None:
            pass

        async def list_topics(self) -> list[str]:
            return ["asset.uploaded", "asset.uploaded.dlq"]

        async def close(self) -> None:
            pass

    monkeypatch.setattr(broker_module, "AIOKafkaAdminClient", RecordingAdmin)
    await ensure_topics(settings, ("asset.uploaded",))
    assert len(made) == 1
    assert made[0]["security_protocol"] == "SASL_SSL" and made[0]["sasl_plain_password"] == PASSWORD


# -- refused at start-up -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "SASL_SSL needs ATELIER_KAFKA_SASL_MECHANISM"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
             "kafka_sasl_username": "atelier"},
            "needs ATELIER_KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "SCRAM-SHA-256",
             "kafka_sasl_username": "atelier", "kafka_sasl_password": " "},
            "needs ATELIER_KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "atelier",
             "kafka_sasl_password": PASSWORD},
            "PLAINTEXT sends no credentials",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_sasl_username": "atelier"},
            "ATELIER_KAFKA_SASL_USERNAME set, but ATELIER_KAFKA_SECURITY_PROTOCOL=SSL sends no credentials",
        ),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI",
          "kafka_sasl_username": "atelier", "kafka_sasl_password": PASSWORD}, "kafka_sasl_mechanism"),
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
    ],
)  # fmt: skip
def test_bad_combinations_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings_of(**values)
    assert message in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_tls_files_without_tls_are_refused(pki: dict[str, Path]) -> None:
    with pytest.raises(
        ValidationError, match=r"ATELIER_KAFKA_SSL_CA_FILE set, but .*=SASL_PLAINTEXT does not use TLS"
    ):
        sasl("SASL_PLAINTEXT", "PLAIN", kafka_ssl_ca_file=pki["ca"])
    with pytest.raises(ValidationError, match="ATELIER_KAFKA_SSL_KEY_FILE needs ATELIER_KAFKA_SSL_CERT_FILE"):
        settings_of(kafka_security_protocol="SSL", kafka_ssl_key_file=pki["client_key"])


def test_a_missing_ca_file_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="kafka_ssl_ca_file"):
        settings_of(kafka_security_protocol="SSL", kafka_ssl_ca_file=tmp_path / "nowhere.pem")


def test_a_service_reading_its_environment_refuses_them_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.ingest.settings import IngestSettings

    monkeypatch.setenv("ATELIER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ATELIER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ATELIER_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("ATELIER_DATABASE_URL", "postgresql://atelier:db-password@db/atelier")
    with pytest.raises(ValidationError) as refused:
        IngestSettings()
    text = str(refused.value)
    assert "needs ATELIER_KAFKA_SASL_USERNAME" in text
    assert PASSWORD not in text and "db-password" not in text, "a start-up error must not print the secrets"
    monkeypatch.setenv("ATELIER_KAFKA_SASL_USERNAME", "atelier")
    assert kafka_client_options(IngestSettings())["sasl_mechanism"] == "SCRAM-SHA-512"


# -- the TLS context really verifies with the CA file (a local handshake, no broker needed) -----------
async def _handshake(
    pki: dict[str, Path], client_context: ssl.SSLContext, *, require_client_cert: bool
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pki["broker"], pki["broker_key"])
    if require_client_cert:
        server_context.verify_mode = ssl.CERT_REQUIRED
        server_context.load_verify_locations(pki["ca"])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readexactly(4))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context, server_hostname="localhost"), 10
        )
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_the_ca_file_is_what_the_client_trusts(pki: dict[str, Path]) -> None:
    trusted = kafka_ssl_context(settings_of(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"]))
    assert trusted is not None
    await _handshake(pki, trusted, require_client_cert=False)

    stranger = kafka_ssl_context(
        settings_of(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["other_ca"])
    )
    assert stranger is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(pki, stranger, require_client_cert=False)


async def test_mutual_tls_presents_the_client_certificate(pki: dict[str, Path]) -> None:
    with_cert = kafka_ssl_context(
        settings_of(
            kafka_security_protocol="SSL",
            kafka_ssl_ca_file=pki["ca"],
            kafka_ssl_cert_file=pki["client"],
            kafka_ssl_key_file=pki["client_key"],
        )
    )
    assert with_cert is not None
    await _handshake(pki, with_cert, require_client_cert=True)

    without_cert = kafka_ssl_context(settings_of(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"]))
    assert without_cert is not None
    # TLS 1.3: the server's refusal of a client without a certificate arrives on the first read
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        await _handshake(pki, without_cert, require_client_cert=True)


def test_no_kafka_client_is_built_without_the_security_settings() -> None:
    """Every place the code builds a Kafka client passes the security settings: `**kafka_client_options(...)`
    for aiokafka's clients, `security=` for FastStream's broker (the gateway's live feed was one that did not)."""
    import ast

    repo = Path(__file__).resolve().parents[2]
    clients = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "KafkaBroker"}
    found, bare = 0, []
    for path in [*repo.glob("libs/**/*.py"), *repo.glob("services/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in clients:
                continue
            found += 1
            secured = any(
                (k.arg is None and isinstance(k.value, ast.Call)
                 and getattr(k.value.func, "id", None) == "kafka_client_options")
                or k.arg == "security"
                for k in node.keywords
            )  # fmt: skip
            if not secured:
                bare.append(f"{path.relative_to(repo)}:{node.lineno} {name}")
    assert found >= 4, "the scan found too few Kafka clients: it no longer sees them"
    assert bare == []
