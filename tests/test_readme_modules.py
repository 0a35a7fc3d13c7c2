"""README's module list names every module of the four packages, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "jobs", "workers", "models")


def test_readme_module_list_matches_the_tree() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Module list", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\s*- `((?:api|jobs|workers|models)/[\w/]+\.py)`", section, re.MULTILINE))
    present = {str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
               if p.name != "__init__.py"}
    assert not present - listed, f"modules missing from README's module list: {sorted(present - listed)}"
    assert not listed - present, f"README lists modules that do not exist: {sorted(listed - present)}"
