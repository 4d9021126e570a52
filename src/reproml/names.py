"""Turn what a person typed into a distribution name and an import package name, or refuse with the reason."""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from dataclasses import dataclass

from reproml.errors import UsageError

# Importing the project must not shadow what the generated project itself imports or installs.
RESERVED = frozenset(
    {
        "torch", "torchvision", "torchaudio", "numpy", "pytest", "sphinx", "furo", "myst_parser",
        "sphinx_copybutton", "jupyter", "jupyterlab", "ipykernel", "hatchling", "pip", "setuptools",
        "uv", "pixi", "reproml", "nvidia", "triton", "src", "tests", "docs", "test",
    }
)
_VALID_DIST = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# Windows cannot create a file or folder with these names (any case, any extension): src/<package> would fail.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
# Enough for any real name; longer ones hit file-name limits (255 bytes) and Windows' 260-character paths.
MAX_NAME_LENGTH = 80


def control_character(text: str) -> str | None:
    """The first character of ``text`` that no project file can hold as typed (a control character, a line
    separator or an undecodable byte), as U+XXXX; None when there is none."""
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


@dataclass(frozen=True)
class ProjectNames:
    title: str  # as typed, for prose: "Cell Seg"
    distribution: str  # PEP 503-normalised: "cell-seg"
    package: str  # importable: "cell_seg"


def project_names(raw: str) -> ProjectNames:
    bad = control_character(raw)
    if bad:
        raise UsageError(f"project name {raw!r} contains a control character ({bad})")
    title = raw.strip()
    if not title:
        raise UsageError("the project name is empty", hint="pass --name or a folder name")
    if len(title) > MAX_NAME_LENGTH:
        raise UsageError(
            f"project name is {len(title)} characters long; at most {MAX_NAME_LENGTH} fit in file names"
        )
    if "/" in title or "\\" in title or ".." in title:
        raise UsageError(f"project name '{title}' contains a path separator or '..'")
    if not title.isascii():
        raise UsageError(
            f"project name '{title}' has non-ASCII characters", hint="use letters, digits, - and _"
        )
    distribution = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if not distribution:
        raise UsageError(f"project name '{title}' has no letters or digits")
    if distribution[0].isdigit():
        raise UsageError(f"project name '{title}' starts with a digit; Python cannot import it")
    if not _VALID_DIST.match(distribution):
        raise UsageError(f"project name '{title}' cannot be made a valid package name")
    package = distribution.replace("-", "_")
    if keyword.iskeyword(package):
        raise UsageError(f"project name '{title}' is a Python keyword")
    if package in sys.stdlib_module_names:
        raise UsageError(f"project name '{title}' shadows the standard library module '{package}'")
    if package in WINDOWS_RESERVED:
        raise UsageError(f"project name '{title}' is a reserved device name on Windows ('{package}')")
    if package in RESERVED:
        raise UsageError(f"project name '{title}' shadows '{package}', which the project depends on or uses")
    return ProjectNames(title=title, distribution=distribution, package=package)
