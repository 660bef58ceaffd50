"""What identifies an input's content cheaply, to tell whether a stored result is still valid.

Resolved path, size and modification time (ns) of a file; for a folder or glob of frames the
same for every file, hashed, under the absolute path (however the path was spelled). Used by `catrack batch` (step keys) and by the cached alignment
estimate of the alignment rule.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """{path, size, mtime_ns} of a file; {path, files, sha256} of a folder or glob of frames;
    {path, missing: True} when there is nothing there."""
    p = Path(path)
    if p.is_file():
        st = p.stat()
        return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if p.is_dir() or any(c in str(p) for c in "*?["):
        from napari_catrack.io.tiff import expand_sequence

        parts = [file_fingerprint(f) for f in expand_sequence(p)]
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return {"path": os.path.abspath(p), "files": len(parts), "sha256": digest}
    return {"path": os.path.abspath(p), "missing": True}
