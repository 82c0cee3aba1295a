"""The webhook server's TLS certificate: mounted (by the Helm chart, from cert-manager or
a Secret) or made by the operator itself with the ``cryptography`` package.

A folder holding ``tls.crt`` and ``tls.key`` is used as it is, with ``ca.crt`` as the
bundle the API server trusts (the certificate itself when there is none). Otherwise the
operator makes a CA and a serving certificate for the names and addresses the API
server calls, and writes them there, so that a restart with the same folder keeps them.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from kubernetes.client.exceptions import ApiException

from souverain.devcluster.pki import issue, make_ca, write_pair
from souverain.kubeapi import KubeApi

SECRET_FILES = ("tls.crt", "tls.key", "ca.crt")


@dataclass(frozen=True)
class ServingCertificate:
    """Where the serving certificate and key are, and the CA bundle that verifies them."""

    certfile: Path
    keyfile: Path
    ca_pem: bytes


def _covers(cert_pem: bytes, hosts: tuple[str, ...]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    dns = set(names.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    return all(host in dns or host in ips for host in hosts)


def serving_certificate(folder: Path, hosts: tuple[str, ...]) -> ServingCertificate:
    """The certificate in ``folder``, made there first when it has none (or one whose
    names do not cover ``hosts``, the DNS names and IP addresses the API server calls)."""
    folder.mkdir(parents=True, exist_ok=True)
    certfile, keyfile, cafile = folder / "tls.crt", folder / "tls.key", folder / "ca.crt"
    if certfile.exists() and keyfile.exists():
        cert_pem = certfile.read_bytes()
        if not (folder / ".generated").exists() or _covers(cert_pem, hosts):
            ca_pem = cafile.read_bytes() if cafile.exists() else cert_pem
            return ServingCertificate(certfile, keyfile, ca_pem)
    ca = make_ca("souverain-webhook-ca")
    dns_names, ip_addresses = [], []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns_names.append(host)
        else:
            ip_addresses.append(host)
    leaf = issue(
        ca,
        hosts[0],
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ip_addresses),
        server=True,
    )
    write_pair(leaf, folder, "tls")
    cafile.write_bytes(ca.cert_pem)
    (folder / ".generated").touch()
    return ServingCertificate(certfile, keyfile, ca.cert_pem)


def shared_serving_certificate(
    api: KubeApi, secret: str, folder: Path, hosts: tuple[str, ...]
) -> ServingCertificate:
    """A certificate every replica of the operator shares, kept in the Secret ``secret``
    (``namespace/name``): the first replica to start makes it, the others read it, so
    that the API server trusts whichever replica the webhook Service reaches."""
    namespace, _, name = secret.partition("/")
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        found = api.get("Secret", name, namespace)
        data = (found or {}).get("data") or {}
        if all(key in data for key in SECRET_FILES):
            for key in SECRET_FILES:
                path = folder / key
                if key == "tls.key":
                    path.touch(mode=0o600)
                path.write_bytes(base64.b64decode(data[key]))
            if _covers((folder / "tls.crt").read_bytes(), hosts):
                return ServingCertificate(
                    folder / "tls.crt", folder / "tls.key", (folder / "ca.crt").read_bytes()
                )
        for key in (*SECRET_FILES, ".generated"):
            (folder / key).unlink(missing_ok=True)
        made = serving_certificate(folder, hosts)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "souverain"},
            },
            "data": {
                key: base64.b64encode((folder / key).read_bytes()).decode() for key in SECRET_FILES
            },
        }
        try:
            if found is None:
                api.create(body)
            else:
                body["metadata"]["resourceVersion"] = found["metadata"]["resourceVersion"]
                api.replace(body)
        except ApiException as error:
            if error.status == 409:  # another replica was first: take its certificate
                continue
            raise
        return made
    raise RuntimeError(f"could not agree on the webhook certificate in Secret {secret}")
