"""Refresh the vendored GOV.UK Frontend assets from the npm registry (`make assets`).

The dashboard serves its assets itself (no CDN at run time), so the compiled CSS and JS are kept
in the repository. The GDS Transport font and the crown are for GOV.UK services only: the
@font-face rules are stripped and the fonts not copied, so text falls back to Arial, as the
Design System advises for services outside GOV.UK.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

STATIC = Path(__file__).parent / "static" / "govuk"
VERSION = "6.6.0"
FILES = ("govuk-frontend.min.css", "govuk-frontend.min.js")
LICENSE = """MIT License

Copyright (c) 2018 Crown Copyright (Government Digital Service)

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
_FONT_FACE = re.compile(r"@font-face\{[^}]*\}")
_SOURCE_MAP = re.compile(r"/\*# sourceMappingURL=[^*]*\*/|//# sourceMappingURL=\S+")


def without_gov_uk_only(text: str) -> str:
    """Drop the GDS Transport @font-face rules and source-map comments (maps are not shipped)."""
    return _SOURCE_MAP.sub("", _FONT_FACE.sub("", text))


def refresh(version: str = VERSION) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"govuk-frontend@{version}", "--pack-destination", tmp], check=True,
                       capture_output=True)
        with tarfile.open(next(Path(tmp).glob("govuk-frontend-*.tgz"))) as tgz:
            tgz.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist" / "govuk"
        STATIC.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (STATIC / name).write_text(without_gov_uk_only((dist / name).read_text()))
    (STATIC / "VERSION").write_text(f"govuk-frontend {version} (npm), fonts and crown not included\n")
    (STATIC / "LICENSE").write_text(LICENSE)


if __name__ == "__main__":
    refresh(*sys.argv[1:])
