"""The ``docker rmi`` decision (moby ``daemon/images/image_delete.go``) as a pure function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kobako.errors import Conflict, ImageInUse
from kobako.ids import short

if TYPE_CHECKING:
    from kobako.images.reference import Reference


@dataclass(frozen=True, slots=True)
class ImageUser:
    """A container that uses an image, as the caller's ``in_use`` reports it."""

    container_id: str
    running: bool = False


InUse = Callable[[str], "ImageUser | bool | None"]


@dataclass(frozen=True, slots=True)
class RemovePlan:
    untag: tuple[Reference, ...]
    delete: bool


def _single_reference(refs: list[Reference]) -> bool:
    """moby ``isSingleReference``: one tag (plus digests of that same repository) at most."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for ref in refs:
        if ref.digest is not None:
            canonical.add(ref.name)
        elif single is None:
            single = ref
        else:
            return False
    name = (single or refs[0]).name
    return len(canonical) == 1 and name in canonical


def _conflict(image_id: str, user: ImageUser, hard: bool) -> ImageInUse:
    state = "running" if user.running else "stopped"
    how = "cannot be forced" if hard else "must be forced"
    return ImageInUse(
        f"conflict: unable to delete {short(image_id)} ({how}) - "
        f"image is being used by {state} container {short(user.container_id)}"
    )


def plan_remove(
    image_id: str, given: str, by_id: bool, refs: list[Reference], force: bool, user: ImageUser | None
) -> RemovePlan:
    from kobako.images.reference import parse_reference

    untag: list[Reference] = []
    remaining = list(refs)
    quiet = False
    if not by_id:
        if not force and _single_reference(refs) and user is not None:
            raise ImageInUse(
                f'conflict: unable to remove repository reference "{given}" (must force) - container '
                f"{short(user.container_id)} is using its referenced image {short(image_id)}"
            )
        parsed = parse_reference(given)
        named = next((r for r in remaining if str(r) == str(parsed)), parsed)
        untag.append(named)
        remaining = [r for r in remaining if str(r) != str(named)]
        if named.digest is None and not any(r.digest is None and r.name == named.name for r in remaining):
            same_repo = [r for r in remaining if r.digest is not None and r.name == named.name]
            untag.extend(same_repo)
            remaining = [r for r in remaining if r not in same_repo]
        if remaining:
            return RemovePlan(tuple(untag), delete=False)
        quiet = True
    elif _single_reference(refs):
        if user is not None and (user.running or not force):
            raise _conflict(image_id, user, hard=user.running)
        untag.extend(remaining)
        remaining = []
    # imageDeleteHelper: hard conflicts always, soft ones (references, stopped users) unless forced
    if user is not None and (user.running or not force):
        if quiet:
            return RemovePlan(tuple(untag), delete=False)
        raise _conflict(image_id, user, hard=user.running)
    if remaining and not force:
        raise Conflict(
            f"conflict: unable to delete {short(image_id)} (must be forced) - "
            "image is referenced in multiple repositories"
        )
    untag.extend(remaining)
    return RemovePlan(tuple(untag), delete=True)
