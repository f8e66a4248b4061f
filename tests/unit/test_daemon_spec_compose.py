"""HostConfig fields docker-compose sends that the spec builder maps: GroupAdd and OomScoreAdj
(daemon/containers/_spec.py), and the init's --group-add lookup (runtime/user.py)."""

from __future__ import annotations

import pytest

from kobako.daemon.containers._spec import build_spec
from kobako.errors import InvalidArgument, RuntimeFailure
from kobako.runtime.user import GROUP_ADD_ANNOTATION, resolve_group_add

CFG = {"Cmd": ["true"], "Env": ["PATH=/bin"]}


def test_group_add_goes_to_the_init_and_oom_score_adj_to_the_process() -> None:
    spec = build_spec("c" * 64, CFG, {"GroupAdd": ["100", "audio"], "OomScoreAdj": 300}, "/kobako")
    assert spec["annotations"][GROUP_ADD_ANNOTATION] == "100,audio"
    assert spec["process"]["oomScoreAdj"] == 300
    plain = build_spec("c" * 64, CFG, {}, "/kobako")
    assert GROUP_ADD_ANNOTATION not in (plain.get("annotations") or {})
    assert "oomScoreAdj" not in plain["process"]


@pytest.mark.parametrize("hc, msg", [
    ({"OomScoreAdj": 1001}, "range for oom score adj is [-1000, 1000]"),
    ({"OomScoreAdj": -1001}, "range for oom score adj is [-1000, 1000]"),
    ({"GroupAdd": ["a,b"]}, "GroupAdd"),
    ({"GroupAdd": [""]}, "GroupAdd"),
    ({"GroupAdd": "100"}, "GroupAdd"),
])
def test_bad_values_are_refused(hc: dict[str, object], msg: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        build_spec("c" * 64, CFG, hc, "/kobako")
    assert msg in str(exc.value)


def test_resolve_group_add() -> None:
    group = "root:x:0:\naudio:x:29:pulse\n# comment\nusers:x:100:\n"
    assert resolve_group_add("100,audio,users,4242", group) == (100, 29, 100, 4242)
    with pytest.raises(RuntimeFailure, match="unable to find group video: no matching entries in group file"):
        resolve_group_add("video", group)
