from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from souverain.devcluster import pki


def test_leaf_is_signed_by_the_ca_with_its_sans_and_usage() -> None:
    ca = pki.make_ca()
    leaf = pki.issue(ca, "api", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_client_certificate_carries_its_group_as_organization() -> None:
    ca = pki.make_ca()
    admin = pki.issue(ca, "admin", organization="system:masters", client=True)
    subject = x509.load_pem_x509_certificate(admin.cert_pem).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"


def test_private_keys_are_written_readable_by_owner_only(tmp_path: Path) -> None:
    _, key_path = pki.write_pair(pki.make_ca(), tmp_path, "ca")
    assert key_path.stat().st_mode & 0o777 == 0o600


def test_service_account_public_key_matches_private_key() -> None:
    private = pki.make_service_account_key()
    assert b"BEGIN PUBLIC KEY" in pki.public_key_pem(private)
