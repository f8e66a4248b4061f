""".dockerignore matching with Docker's rules (cases from moby patternmatcher tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobako.build.dockerignore import DockerIgnore


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    (["*.go"], "main.go", True),
    (["*.go"], "dir/main.go", False),  # * never crosses a /
    (["**/*.go"], "dir/sub/main.go", True),
    (["**/*.go"], "main.go", True),  # ** matches zero directories
    (["dir/**"], "dir/a/b", True),
    (["dir"], "dir/a/b", True),  # a parent directory matches
    (["/dir"], "dir/x", True),  # a leading / is the context root
    (["./dir/../other"], "other", True),  # patterns are Cleaned
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["[a-c]x"], "bx", True),
    (["[^a-c]x"], "bx", False),
    (["\\*x"], "*x", True),
    (["\\*x"], "ax", False),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["!keep", "*"], "keep", True),  # the last match wins
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs/*.md", "!docs/a.md", "docs/a.md"], "docs/a.md", True),
    (["# comment", "", "  "], "anything", False),
    (["**"], "x/y", True),
    (["*/tmp"], "a/tmp/file", True),
    (["*/tmp"], "a/b/tmp", False),
])
def test_matches(patterns: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).excluded(path) is excluded


def test_walk_skips_excluded_dirs_but_keeps_exceptions(tmp_path: Path) -> None:
    for rel in ("Dockerfile", "a.txt", "node_modules/x/y.js", "docs/README.md", "docs/other.md", "build/out"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    (tmp_path / ".dockerignore").write_text("node_modules\ndocs\n!docs/README.md\nDockerfile\n.dockerignore\n/build\n")
    ignore = DockerIgnore.from_context(tmp_path)
    sent = list(ignore.walk(tmp_path, always=["Dockerfile", ".dockerignore"]))
    assert sent == [".dockerignore", "Dockerfile", "a.txt", "docs", "docs/README.md"]


def test_no_dockerignore(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert list(DockerIgnore.from_context(tmp_path).walk(tmp_path)) == ["f"]
