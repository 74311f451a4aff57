"""pyproject.toml: what ``pip install`` reads without warnings."""

from __future__ import annotations

import pathlib
import re
import tomllib

PYPROJECT = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_string_that_setuptools_reads_without_a_deprecation_warning() -> None:
    """``license = { text = "MIT" }`` makes setuptools >= 77 warn (three times per install);
    the SPDX string form needs setuptools >= 77 and no ``License ::`` classifier (PEP 639)."""
    config = tomllib.loads(PYPROJECT.read_text())
    project = config["project"]
    assert project["license"] == "MIT", project["license"]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    (setuptools,) = [r for r in config["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools\s*>=\s*(\d+)(?:\.\d+)*", setuptools)
    assert minimum and int(minimum[1]) >= 77, setuptools
