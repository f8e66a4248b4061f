"""The pure parts of cp/export/commit: Go FileMode bits, the stat header, docker's path rules,
tar naming and extraction on temporary trees, and the commit config."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from kobako.cli.commands import cp as cli_cp
from kobako.daemon.files import _pathstat as ps
from kobako.daemon.files import _tar
from kobako.daemon.files._backend import readonly_mounts
from kobako.daemon.files._commit import commit_config, merge, reference
from kobako.errors import InvalidArgument
from kobako.mount import Mount


@pytest.mark.parametrize(
    ("st_mode", "go"),
    [
        (stat.S_IFREG | 0o644, 0o644),
        (stat.S_IFDIR | 0o755, (1 << 31) | 0o755),
        (stat.S_IFLNK | 0o777, (1 << 27) | 0o777),
        (stat.S_IFCHR | 0o666, (1 << 26) | (1 << 21) | 0o666),
        (stat.S_IFBLK | 0o660, (1 << 26) | 0o660),
        (stat.S_IFIFO | 0o600, (1 << 25) | 0o600),
        (stat.S_IFSOCK | 0o755, (1 << 24) | 0o755),
        (stat.S_IFREG | stat.S_ISUID | 0o755, (1 << 23) | 0o755),
        (stat.S_IFREG | stat.S_ISGID | 0o755, (1 << 22) | 0o755),
        (stat.S_IFDIR | stat.S_ISVTX | 0o777, (1 << 31) | (1 << 20) | 0o777),
    ],
)
def test_go_file_mode(st_mode: int, go: int) -> None:
    assert ps.go_file_mode(st_mode) == go


def test_rfc3339_nano_trims_like_go() -> None:
    assert ps.rfc3339_nano(0) == "1970-01-01T00:00:00Z"
    assert ps.rfc3339_nano(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert ps.rfc3339_nano(1_000_000_001) == "1970-01-01T00:00:01.000000001Z"


def test_stat_header_round_trip() -> None:
    obj = ps.path_stat("f", stat.S_IFREG | 0o644, 3, 2_000_000_000, "")
    assert obj == {"name": "f", "size": 3, "mode": 0o644, "mtime": "1970-01-01T00:00:02Z", "linkTarget": ""}
    value = ps.encode_stat(obj)
    assert value.isascii() and ps.decode_stat(value) == obj


@pytest.mark.parametrize(
    ("given", "abs_path"),
    [("a/b", "/a/b"), ("/a/b/", "/a/b/"), ("/a/b/.", "/a/b/."), ("/", "/"), (".", "/."), ("/a//b/../c", "/a/c")],
)
def test_container_abs_path(given: str, abs_path: str) -> None:
    assert ps.container_abs_path(given) == abs_path


@pytest.mark.parametrize(("path", "base"), [("/a/b", "b"), ("/a/b/", "b"), ("/a/b/.", "."), ("/", "/"), ("", ".")])
def test_go_base(path: str, base: str) -> None:
    assert ps.go_base(path) == base == cli_cp.go_base(path)


def test_split_path_dir_entry() -> None:
    assert ps.split_path_dir_entry("/a/b/") == ("/a", "b")
    assert ps.split_path_dir_entry("/a/b/.") == ("/a/b", ".")
    assert cli_cp.split_path_dir_entry("/a/b/.") == ("/a/b", ".")


# -- the cp CLI's rules ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arg", "split"),
    [("c:/x", ("c", "/x")), ("/abs:x", ("", "/abs:x")), ("./f:n", ("", "./f:n")), ("plain", ("", "plain")),
     ("c:", ("c", "")), ("-", ("", "-"))],
)
def test_split_cp_arg(arg: str, split: tuple[str, str]) -> None:
    assert cli_cp.split_cp_arg(arg) == split


def test_prepare_archive_copy_rules() -> None:
    CI = cli_cp.CopyInfo
    # into an existing directory: unchanged
    assert cli_cp.prepare_archive_copy(CI("/s/dir", True, True), CI("/d", True, True)) == ("/d", None)
    # a directory to a new name: extract into the parent, renamed
    assert cli_cp.prepare_archive_copy(CI("/s/dir", True, True), CI("/d/new")) == ("/d", ("dir", "new"))
    # a file over an existing file: renamed to it
    assert cli_cp.prepare_archive_copy(CI("/s/f", True, False), CI("/d/g", True, False)) == ("/d", ("f", "g"))
    with pytest.raises(cli_cp.CommandError, match="cannot copy directory"):
        cli_cp.prepare_archive_copy(CI("/s/dir", True, True), CI("/d/file", True, False))
    with pytest.raises(cli_cp.CommandError, match="no such directory"):
        cli_cp.prepare_archive_copy(CI("/s/f", True, False), CI("/d/missing/"))


def test_get_rebase_name() -> None:
    assert cli_cp.get_rebase_name("/link/", "/real") == ("/real/", "link")
    assert cli_cp.get_rebase_name("/link/.", "/real") == ("/real/.", "")
    assert cli_cp.get_rebase_name("/same", "/x/same") == ("/x/same", "")


# -- tars on temporary trees -----------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a" / "b" / "sub").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("hello")
    (tmp_path / "a" / "b" / "sub" / "g").write_text("g")
    os.link(tmp_path / "a" / "b" / "f", tmp_path / "a" / "b" / "hard")
    (tmp_path / "a" / "b" / "link").symlink_to("f")
    return tmp_path


def _names(root: Path, path: str) -> list[str]:
    buf = io.BytesIO()
    _tar.write_resource(_tar.plan_resource(str(root) + path), buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tf:
        return [m.name + ("/" if m.isdir() else "") + (f"->{m.linkname}" if m.islnk() else "") for m in tf]


def test_archive_names_follow_docker(tree: Path) -> None:
    assert _names(tree, "/a/b") == ["b/", "b/f", "b/hard->b/f", "b/link", "b/sub/", "b/sub/g"]
    assert _names(tree, "/a/b/.")[:2] == ["./", "./f"]
    assert _names(tree, "/a/b/f") == ["f"]
    assert _names(tree, "/a/b/link") == ["link"]


def test_stat_path_reports_symlink_target(tree: Path) -> None:
    _, st, info = _tar.stat_path(str(tree / "a/b/link"))
    assert stat.S_ISLNK(st.st_mode) and info["mode"] & ps.MODE_SYMLINK
    assert info["linkTarget"] == str(tree / "a/b/f") and info["name"] == "link"
    with pytest.raises(_tar.PathNotFound):
        _tar.stat_path(str(tree / "nope/x"))


def _tar_of(*members: tuple[str, str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_extract_and_overwrite_rules(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "file").write_text("old")
    assert _tar.extract(_tar_of(("new/x", "file", b"1"), ("file", "file", b"new")), str(tmp_path)) == 2
    assert (tmp_path / "new/x").read_text() == "1" and (tmp_path / "file").read_text() == "new"
    with pytest.raises(_tar.Overwrite, match="cannot overwrite directory"):
        _tar.extract(_tar_of(("d", "file", b"")), str(tmp_path), no_overwrite_dir_non_dir=True)
    with pytest.raises(_tar.Overwrite, match="cannot overwrite non-directory"):
        _tar.extract(_tar_of(("file", "dir", b"")), str(tmp_path), no_overwrite_dir_non_dir=True)
    _tar.extract(_tar_of(("d", "file", b"replaced")), str(tmp_path))  # without the flag: replaced
    assert (tmp_path / "d").read_text() == "replaced"


@pytest.mark.parametrize("member", [("../evil", "file", b"x"), ("a/../../evil", "file", b"x"),
                                    ("l", "sym", b"../../etc")])
def test_extract_refuses_escapes(tmp_path: Path, member: tuple[str, str, bytes]) -> None:
    (tmp_path / "dest").mkdir()
    with pytest.raises(InvalidArgument):
        _tar.extract(_tar_of(member), str(tmp_path / "dest"))
    assert not (tmp_path / "evil").exists()


def test_extraction_dir_must_be_a_directory(tree: Path) -> None:
    with pytest.raises(_tar.NotADirectory, match="extraction point is not a directory"):
        _tar.extraction_dir(str(tree / "a/b/f"))
    with pytest.raises(_tar.PathNotFound):
        _tar.extraction_dir(str(tree / "missing"))


def test_tree_diff_has_changes_and_whiteouts(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        (root / "keep").mkdir(parents=True)
        (root / "keep" / "same").write_text("s")
        os.utime(root / "keep" / "same", (1, 1))
    (old / "gone").write_text("x")
    (new / "added").write_text("y")
    buf = io.BytesIO()
    _tar.tree_diff(str(new), str(old), buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tf:
        assert tf.getnames() == [".wh.gone", "added"]


def test_readonly_mounts_never_use_the_work_dir() -> None:
    m = Mount("overlay", "overlay", ("lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"))
    assert readonly_mounts([m]) == [Mount("overlay", "overlay", ("ro", "lowerdir=/u:/l1:/l2"))]
    assert readonly_mounts([Mount("bind", "/fs", ("rbind", "rw"))]) == [Mount("bind", "/fs", ("rbind", "ro"))]


# -- commit ------------------------------------------------------------------------------------------
def test_commit_config_applies_changes_and_history() -> None:
    parent = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "history": [{"created": "x", "created_by": "base"}], "rootfs": {"type": "layers", "diff_ids": ["a"]}}
    container = {"Cmd": ["sh", "-c", "echo hi > /data"], "Env": ["PATH=/bin", "A=1"], "Labels": {"l": "1"},
                 "WorkingDir": "/w"}
    cfg = commit_config(parent, container, None, ['CMD ["cat","/data"]', "ENV A=2"], "me", "msg")
    assert cfg["config"]["Cmd"] == ["cat", "/data"]
    assert cfg["config"]["Env"] == ["PATH=/bin", "A=2"]
    assert cfg["config"]["WorkingDir"] == "/w" and cfg["config"]["Labels"] == {"l": "1"}
    assert cfg["author"] == "me" and cfg["comment"] == "msg" and "rootfs" not in cfg
    assert cfg["history"][0] == parent["history"][0]
    assert cfg["history"][1]["created_by"] == "sh -c echo hi > /data"
    assert cfg["history"][1]["author"] == "me" and cfg["history"][1]["comment"] == "msg"


def test_merge_fills_only_what_is_empty() -> None:
    user = merge({"Env": ["A=9"], "Entrypoint": ["/x"]}, {"Env": ["A=1", "B=2"], "Cmd": ["c"], "User": "u"})
    assert user["Env"] == ["A=9", "B=2"] and user["User"] == "u"
    assert user.get("Cmd") is None  # an entrypoint of its own keeps the container's Cmd out


def test_reference() -> None:
    assert reference("", "t") is None
    assert reference("repo", "") == "repo"
    assert reference("repo", "v1") == "repo:v1"
    with pytest.raises(InvalidArgument):
        reference("repo@sha256:" + "a" * 64, "")


def test_helper_refuses_a_pid_of_another_container() -> None:
    """A reused pid (here: our own, in the host's cgroup) is refused before any chroot."""
    from kobako.daemon.files._helper import _enter_pid
    from kobako.errors import Conflict

    with pytest.raises(Conflict, match="is not running"):
        _enter_pid(os.getpid(), "f" * 64)
    assert os.path.exists(__file__)  # still in the host's root: nothing was entered
