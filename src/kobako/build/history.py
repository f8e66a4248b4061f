"""``GET /images/{name}/history``: an image's history entries, newest first (moby ``ImageHistory``).

Only the newest entry carries the image id; older ones are ``<missing>``, because kobako does not
keep a build's intermediate images (dockerd shows their ids when it still has them). A layer's
size is its stored (compressed) size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kobako.images._image import parse_time

if TYPE_CHECKING:
    from kobako.images import Image


def image_history(image: Image) -> list[dict[str, Any]]:
    history = list(image.config.get("history") or [])
    layers = list(image.manifest.get("layers") or [])
    if not history:
        history = [{"created": image.created, "created_by": ""} for _ in layers] or [{"created": image.created}]
    out: list[dict[str, Any]] = []
    li = 0
    for entry in history:
        size = 0
        if not entry.get("empty_layer"):
            if li < len(layers):
                size = int(layers[li].get("size", 0))
            li += 1
        out.append({"Id": "<missing>", "Created": parse_time(entry.get("created")),
                    "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                    "Comment": entry.get("comment", "")})
    out.reverse()
    out[0]["Id"] = image.id
    out[0]["Tags"] = list(image.repo_tags) or None
    return out
