"""The independent reading of image references: where the container runtime would pull
each form from, what cannot be read, and how allowed entries match."""

from __future__ import annotations

import pytest

from souverain.outcomes.images import Image, allows, decide, read

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.27", "docker.io/library/nginx"),
        (f"nginx@{DIGEST}", "docker.io/library/nginx"),
        (f"nginx:1.27@{DIGEST}", "docker.io/library/nginx"),
        ("bitnami/redis", "docker.io/bitnami/redis"),
        ("docker.io/nginx", "docker.io/library/nginx"),
        ("docker.io/library/nginx", "docker.io/library/nginx"),
        ("index.docker.io/nginx", "docker.io/library/nginx"),
        ("Index.Docker.IO/bitnami/redis", "docker.io/bitnami/redis"),
        ("registry.fr.example/app", "registry.fr.example/app"),
        ("Registry.FR.example/team/app:2", "registry.fr.example/team/app"),
        ("registry.fr.example:5000/app", "registry.fr.example:5000/app"),
        ("registry.fr.example:5000", "docker.io/library/registry.fr.example"),
        ("localhost/app", "localhost/app"),
        ("localhost:5000/app", "localhost:5000/app"),
        ("localhostx/app", "docker.io/localhostx/app"),
        ("Team/app", "team/app"),
        ("registry:5000/app", "registry:5000/app"),
        ("a.b/c__d/e-f/g.h_i", "a.b/c__d/e-f/g.h_i"),
        ("registry.fr.example/app:" + "v" * 128, "registry.fr.example/app"),
    ],
)
def test_a_reference_names_the_repository_the_runtime_pulls(
    reference: str, repository: str
) -> None:
    found = read(reference)
    assert found is not None
    assert found.repository == repository


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "https://registry.fr.example/app",
        "registry.fr.example/App",
        "NGINX",
        "registry.fr.example//app",
        "registry.fr.example/app/",
        "/app",
        "registry.fr.example/app name",
        " nginx",
        "registry.fr.example/app:",
        "registry.fr.example/app:-tag",
        "registry.fr.example/app:" + "v" * 129,
        "registry.fr.example/app@sha256:abc",
        "registry.fr.example/app@" + "0" * 64,
        "registry.fr.example/app@@" + DIGEST,
        "registry.fr.example:x/app",
        "registry.fr.example:5²/app",
        "-registry.fr.example/app",
        "[fd00::1]:5000/app",
        "registry.fr.example/a..b",
        "registry.fr.example/a_.b",
        "registry.fr.example/a___b",
        "registry.fr.example/-a",
        DIGEST,
        "sha512:" + "ab" * 64,
        "0123456789abcdef" * 4 + ":" + "0123456789abcdef" * 2,
    ],
)
def test_a_reference_outside_the_grammar_or_an_image_id_cannot_be_read(reference: str) -> None:
    assert read(reference) is None


def test_a_long_hexadecimal_tag_with_a_digest_is_not_an_image_id() -> None:
    found = read(f"sha256:{'ab' * 32}@{DIGEST}")
    assert found == Image("docker.io", ("library", "sha256"))


ENTRIES = ["registry.fr.example", "registry.fr.example:5000/team", "docker.io/library"]


@pytest.mark.parametrize(
    ("reference", "allowed"),
    [
        ("registry.fr.example/anything/at/all", True),
        ("REGISTRY.fr.example/app", True),
        ("registry.fr.example.evil.com/app", False),
        ("evil.com/registry.fr.example/app", False),
        ("registry.fr.example:443/app", False),
        ("registry.fr.example:5000/team", True),
        ("registry.fr.example:5000/team/app", True),
        ("registry.fr.example:5000/teamb/app", False),
        ("registry.fr.example:5000/app", False),
        ("nginx", True),
        ("index.docker.io/nginx:1", True),
        ("bitnami/redis", False),
        ("docker.io/libraryx/redis", False),
    ],
)
def test_entries_match_the_host_and_port_exactly_and_whole_path_segments(
    reference: str, allowed: bool
) -> None:
    assert decide(ENTRIES, reference) is allowed


def test_an_empty_list_allows_every_image_even_one_that_cannot_be_read() -> None:
    assert decide([], "https://anywhere/app")
    assert not decide(ENTRIES, "https://registry.fr.example/app")


def test_allows_compares_entries_segment_by_segment() -> None:
    image = Image("registry.fr.example", ("team", "app"))
    assert allows(["registry.fr.example/team"], image)
    assert allows(["registry.fr.example/team/app"], image)
    assert not allows(["registry.fr.example/team/app/x"], image)
    assert not allows(["registry.fr.example/tea"], image)
