"""Refresh the vendored Swagger UI that every service's `/docs` serves (`make assets`).

Services serve their API docs themselves (no CDN at run time: docs/architecture.md), so the
compiled bundle and stylesheet of the npm package `swagger-ui-dist` are kept in the repository,
without source maps. Our own start-up script (`docs-init.js`) is not touched.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

STATIC = Path(__file__).parent / "static" / "swagger-ui"
VERSION = "5.36.0"
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt")
_SOURCE_MAP = re.compile(r"/\*# sourceMappingURL=[^*]*\*/|//# sourceMappingURL=\S+")


def refresh(version: str = VERSION) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"swagger-ui-dist@{version}", "--pack-destination", tmp], check=True,
                       capture_output=True)
        with tarfile.open(next(Path(tmp).glob("swagger-ui-dist-*.tgz"))) as tgz:
            tgz.extractall(tmp, filter="data")
        dist = Path(tmp) / "package"
        STATIC.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (STATIC / name).write_text(_SOURCE_MAP.sub("", (dist / name).read_text()))
    (STATIC / "VERSION").write_text(f"swagger-ui-dist {version} (npm), without source maps\n")


if __name__ == "__main__":
    refresh(*sys.argv[1:])
