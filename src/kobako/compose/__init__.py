"""kobako compose: docker-compose.yml projects, as a pure client of the Engine API.

``load_project(options)`` reads, interpolates, validates, merges and normalises compose files into a
:class:`~kobako.compose.model.Project`; ``kobako.compose._project.Compose(client, project)`` plans and
applies it (up, down, start, stop, ...) through :class:`kobako.client.Client` only.  Nothing here
imports daemon code; PyYAML is imported only when a file is read.
"""

from __future__ import annotations

from kobako.compose._errors import ComposeError

__all__ = ["ComposeError"]
