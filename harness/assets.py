"""Refresh the vendored front-end assets from the npm registry (`make assets`): the dashboard's
GOV.UK Frontend, the Swagger UI that every service's `/docs` serves, axe-core, which the
dashboard's browser tests run over every page (pinned here, not whichever copy a Python wrapper
happens to bundle), and the AsyncAPI 3.0.0 JSON Schema the tests validate the services'
`/asyncapi.json` against.

Services serve their assets themselves (no CDN at run time: docs/architecture.md), so the compiled
files are kept in the repository, without source maps. The GDS Transport font and the crown are for
GOV.UK services only: the @font-face rules are stripped and the fonts not copied, so text falls
back to Arial, as the Design System advises for services outside GOV.UK. Our own Swagger start-up
script (`docs-init.js`) is not touched. This is developer tooling: it rewrites files in this
checkout, and no service imports it.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOVUK_STATIC = ROOT / "services" / "reporting" / "dashboard" / "static" / "govuk"
GOVUK_COPIES = (ROOT / "services" / "activities" / "static" / "govuk",)
"""Services that are not reporting serve their own copy (no service imports another): the CSS."""
GOVUK_VERSION = "6.6.0"
GOVUK_FILES = ("govuk-frontend.min.css", "govuk-frontend.min.js")
SWAGGER_STATIC = ROOT / "shared" / "static" / "swagger-ui"
SWAGGER_VERSION = "5.36.0"
ASYNCAPI_SCHEMA = ROOT / "tests" / "samples" / "asyncapi"
ASYNCAPI_SPECS_VERSION = "6.11.1"
SWAGGER_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "LICENSE",
    "NOTICE",
    "swagger-ui-bundle.js.LICENSE.txt",
)
AXE_STATIC = ROOT / "harness" / "vendor" / "axe-core"
AXE_VERSION = "4.14.1"
AXE_FILES = ("axe.min.js", "LICENSE")
GOVUK_LICENSE = """MIT License

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


def without_source_maps(text: str) -> str:
    """Drop source-map comments: the maps are not shipped, and browsers would ask for them."""
    return _SOURCE_MAP.sub("", text)


def _npm_unpack(package: str, version: str, tmp: str) -> Path:
    """`npm pack` one package into `tmp` and unpack it: the registry's tarball, no node_modules."""
    subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--pack-destination", tmp],
        check=True,
        capture_output=True,
    )
    tarball = package.lstrip("@").replace("/", "-")  # @scope/name packs as scope-name-1.0.0.tgz
    with tarfile.open(next(Path(tmp).glob(f"{tarball}-*.tgz"))) as tgz:
        tgz.extractall(tmp, filter="data")
    return Path(tmp) / "package"


def refresh_govuk(version: str = GOVUK_VERSION) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dist = _npm_unpack("govuk-frontend", version, tmp) / "dist" / "govuk"
        GOVUK_STATIC.mkdir(parents=True, exist_ok=True)
        for name in GOVUK_FILES:
            (GOVUK_STATIC / name).write_text(without_gov_uk_only((dist / name).read_text()))
    (GOVUK_STATIC / "VERSION").write_text(
        f"govuk-frontend {version} (npm), fonts and crown not included\n"
    )
    (GOVUK_STATIC / "LICENSE").write_text(GOVUK_LICENSE)
    for copy in GOVUK_COPIES:
        copy.mkdir(parents=True, exist_ok=True)
        for name in ("govuk-frontend.min.css", "VERSION", "LICENSE"):
            (copy / name).write_bytes((GOVUK_STATIC / name).read_bytes())


def refresh_swagger(version: str = SWAGGER_VERSION) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dist = _npm_unpack("swagger-ui-dist", version, tmp)
        SWAGGER_STATIC.mkdir(parents=True, exist_ok=True)
        for name in SWAGGER_FILES:
            (SWAGGER_STATIC / name).write_text(without_source_maps((dist / name).read_text()))
    (SWAGGER_STATIC / "VERSION").write_text(
        f"swagger-ui-dist {version} (npm), without source maps\n"
    )


def refresh_axe(version: str = AXE_VERSION) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dist = _npm_unpack("axe-core", version, tmp)
        AXE_STATIC.mkdir(parents=True, exist_ok=True)
        for name in AXE_FILES:
            (AXE_STATIC / name).write_text((dist / name).read_text())
    (AXE_STATIC / "VERSION").write_text(f"axe-core {version} (npm)\n")


def refresh_asyncapi_schema(version: str = ASYNCAPI_SPECS_VERSION) -> None:
    """The AsyncAPI 3.0.0 JSON Schema that tests/test_asyncapi.py validates documents against."""
    with tempfile.TemporaryDirectory() as tmp:
        package = _npm_unpack("@asyncapi/specs", version, tmp)
        schema = (package / "schemas" / "3.0.0.json").read_text()
        (ASYNCAPI_SCHEMA / "asyncapi-3.0.0.schema.json").write_text(schema)
        (ASYNCAPI_SCHEMA / "LICENSE").write_text((package / "LICENSE").read_text())


if __name__ == "__main__":
    refresh_govuk()
    refresh_swagger()
    refresh_axe()
    refresh_asyncapi_schema()
