"""Where a session's registered movie is: the registration step's `output` attribute.

The widget and the demo store it with `Session.stored_path` (absolute), the batch runner as a
name beside the session ("registered.tif"); `Session.resolve_stored_path` reads both back.
Reopening a session brings the registered movie back as a layer (lazily, like the recording),
and the NWB export links it as the motion-corrected stack.
"""

from __future__ import annotations

import os
from typing import Any

STEP = "registration"


def registered_movie(session: Any) -> str | None:
    """The registered movie of the session's registration step when it is on disk, else None."""
    if STEP not in session:
        return None
    stored = (session[STEP].attrs or {}).get("output")
    path = session.resolve_stored_path(str(stored)) if stored else None
    return path if path and os.path.isfile(path) else None
