"""Reference parsing and normalisation, table-driven (distribution/reference cases)."""

from __future__ import annotations

import pytest

from kobako.errors import InvalidArgument
from kobako.images.reference import Reference, is_image_id, parse_reference

H = "a" * 64

VALID = [
    # input, domain, path, tag, digest, familiar, full
    ("busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None, "busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest", "docker.io/library/busybox:latest"),
    ("index.docker.io/busybox", "docker.io", "library/busybox", "latest", None, "busybox:latest", "docker.io/library/busybox:latest"),
    ("user/app:v1", "docker.io", "user/app", "v1", None, "user/app:v1", "docker.io/user/app:v1"),
    ("localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", None, "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    ("localhost/x", "localhost", "x", "latest", None, "localhost/x:latest", "localhost/x:latest"),
    ("gcr.io/proj/img", "gcr.io", "proj/img", "latest", None, "gcr.io/proj/img:latest", "gcr.io/proj/img:latest"),
    ("ubuntu@sha256:" + H, "docker.io", "library/ubuntu", None, "sha256:" + H, "ubuntu@sha256:" + H, "docker.io/library/ubuntu@sha256:" + H),
    ("ubuntu:22.04@sha256:" + H, "docker.io", "library/ubuntu", "22.04", "sha256:" + H, "ubuntu:22.04@sha256:" + H, "docker.io/library/ubuntu:22.04@sha256:" + H),
    ("a.b-c/e__d--f_g:T_1.x-y", "a.b-c", "e__d--f_g", "T_1.x-y", None, "a.b-c/e__d--f_g:T_1.x-y", "a.b-c/e__d--f_g:T_1.x-y"),
    ("[::1]:5000/img", "[::1]:5000", "img", "latest", None, "[::1]:5000/img:latest", "[::1]:5000/img:latest"),
    ("localhost:5000", "docker.io", "library/localhost", "5000", None, "localhost:5000", "docker.io/library/localhost:5000"),
]


@pytest.mark.parametrize(("text", "domain", "path", "tag", "digest", "familiar", "full"), VALID)
def test_valid(text: str, domain: str, path: str, tag: str | None, digest: str | None, familiar: str, full: str) -> None:
    ref = parse_reference(text)
    assert ref == Reference(domain, path, tag, digest)
    assert ref.familiar() == familiar
    assert str(ref) == full
    assert ref.name == f"{domain}/{path}"


INVALID = [
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("user/App", "invalid reference format: repository name (user/App) must be lowercase"),
    ("", "invalid reference format"),
    ("busybox:", "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("-abc", "invalid reference format"),
    ("abc-", "invalid reference format"),
    ("a//b", "invalid reference format"),
    ("a_b.com/x", "invalid reference format"),
    ("a/b/", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    (H, f"invalid repository name ({H}), cannot specify 64-byte hexadecimal strings"),
    ("a/" + "b" * 300, "invalid reference format: repository name must not be more than 255 characters"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_reference(text)
    assert str(info.value) == message


def test_no_default_tag() -> None:
    assert parse_reference("busybox", default_tag=False).tag is None
    assert parse_reference("busybox", default_tag=False).familiar() == "busybox"


def test_with_tag_and_ids() -> None:
    assert parse_reference("busybox").with_tag("x").familiar() == "busybox:x"
    with pytest.raises(InvalidArgument):
        parse_reference("busybox").with_tag("-bad")
    assert is_image_id(H) and is_image_id("sha256:" + H) and not is_image_id("abc")
