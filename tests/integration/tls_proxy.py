"""A real TLS-terminating reverse proxy with basic auth (nginx) in front of the test node.

The OpenSearch security plugin is not served for 3.5.0 on this machine, so TLS and authentication are
tested against nginx (Debian's ``nginx-light``, installed by ``scripts/_install.sh``) proxying to the
plain-HTTP node:

* a test CA and a server certificate for ``127.0.0.1`` / ``localhost`` signed by it, made in the test
  with ``cryptography``; a second certificate from the same CA whose ``notAfter`` is in the past;
* ``https_url``: TLS with the valid certificate, ``auth_basic`` against an htpasswd file (``{SSHA}``
  hash), ``proxy_pass`` to the node;
* ``expired_url``: the same, but serving the expired certificate.

:func:`start_tls_proxy` starts nginx in the foreground (``daemon off``) with every path (pid, logs,
temp dirs) inside ``root``; :meth:`TlsProxy.stop` ends that process only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def nginx_binary() -> str | None:
    """The nginx executable (``/usr/sbin`` is not on every user's PATH)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TestCa:
    """A CA certificate and key (PEM files) that signs server certificates."""

    cert_path: Path
    key: object  # cryptography private key
    cert: object  # cryptography x509.Certificate


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key, path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_ca(directory: Path, name: str = "mros test CA") -> TestCa:
    """A self-signed CA valid from yesterday for ten days; writes ``ca.pem`` in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TestCa(cert_path=path, key=key, cert=cert)


def issue_server_cert(ca: TestCa, directory: Path, stem: str, *, not_before: dt.datetime,
                      not_after: dt.datetime) -> tuple[Path, Path]:
    """A server certificate for ``127.0.0.1`` and ``localhost`` signed by ``ca``: ``(cert.pem, key.pem)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _key()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


def htpasswd_line(user: str, password: str) -> str:
    """An htpasswd entry with nginx's salted SHA-1 scheme (``{SSHA}``), so no password is stored in clear."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


@dataclass
class TlsProxy:
    https_url: str
    expired_url: str
    ca_cert: Path
    user: str
    password: str
    root: Path
    process: subprocess.Popen

    @property
    def https_port(self) -> int:
        return int(self.https_url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


NGINX_CONF = """\
{user_line}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    client_max_body_size 100m;
    upstream opensearch {{ server {upstream}; keepalive 16; }}
{servers}
}}
"""

SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        auth_basic "mros test";
        auth_basic_user_file {root}/htpasswd;
        location / {{
            proxy_pass http://opensearch;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
        }}
    }}
"""


def start_tls_proxy(root: Path, upstream: str, *, user: str, password: str, timeout: float = 20.0) -> TlsProxy:
    """nginx on two free ports of 127.0.0.1 (valid and expired certificate), proxying to ``upstream``
    (``host:port`` of a plain-HTTP node). Raises ``RuntimeError`` with nginx's error log if it does not start."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (scripts/_install.sh installs Debian's nginx-light)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    ca = make_ca(root / "ca")
    now = dt.datetime.now(dt.UTC)
    good = issue_server_cert(ca, root, "server", not_before=now - dt.timedelta(hours=1),
                             not_after=now + dt.timedelta(days=2))
    expired = issue_server_cert(ca, root, "expired", not_before=now - dt.timedelta(days=5),
                                not_after=now - dt.timedelta(days=1))
    (root / "htpasswd").write_text(htpasswd_line(user, password))
    ports = [free_port(), free_port()]
    servers = "".join(SERVER.format(port=port, cert=cert, key=key, root=root)
                      for port, (cert, key) in zip(ports, (good, expired), strict=True))
    # Workers run as root when the test does (pytest's tmp dirs are private to their owner).
    user_line = "user root;" if os.geteuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user_line=user_line, root=root, upstream=upstream, servers=servers))
    process = subprocess.Popen([binary, "-p", str(root), "-e", str(root / "error.log"), "-c", str(conf),
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proxy = TlsProxy(https_url=f"https://127.0.0.1:{ports[0]}", expired_url=f"https://127.0.0.1:{ports[1]}",
                     ca_cert=ca.cert_path, user=user, password=password, root=root, process=process)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            log = (root / "error.log").read_text(errors="replace") if (root / "error.log").exists() else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {process.stderr.read().decode(errors='replace')}{log}")
        if all(_listening(port) for port in ports):
            return proxy
        time.sleep(0.1)
    proxy.stop()
    raise RuntimeError(f"nginx did not listen on {ports} within {timeout}s")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
