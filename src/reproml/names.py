"""Turn what a person typed into a distribution name and an import package name, or refuse with the reason."""

from __future__ import annotations

import keyword
import re
import sys
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


@dataclass(frozen=True)
class ProjectNames:
    title: str  # as typed, for prose: "Cell Seg"
    distribution: str  # PEP 503-normalised: "cell-seg"
    package: str  # importable: "cell_seg"


def project_names(raw: str) -> ProjectNames:
    title = raw.strip()
    if not title:
        raise UsageError("the project name is empty", hint="pass --name or a folder name")
    if "/" in title or "\\" in title or ".." in title:
        raise UsageError(f"project name '{title}' contains a path separator or '..'")
    if not title.isascii():
        raise UsageError(f"project name '{title}' has non-ASCII characters", hint="use letters, digits, - and _")
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
    if package in RESERVED:
        raise UsageError(f"project name '{title}' shadows '{package}', which the project depends on or uses")
    return ProjectNames(title=title, distribution=distribution, package=package)
