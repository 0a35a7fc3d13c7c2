"""The keyer's formulas compiled for numba, and a numba cache that follows them.

:func:`jit_formulas` compiles every function of :mod:`models.keyer_formulas`
with ``inline="always"``, so the fused loops (:mod:`models.fused_matte`,
:mod:`models.fused_composite`) carry the formula's own code, not a call. A
formula that calls another (``clip01``) reaches its compiled form: each is
compiled over one shared copy of the module's namespace in which the names
are then rebound to the compiled functions.

numba's on-disk cache (``cache=True``) is keyed on the source file of the
function it compiled, not on the functions it inlined (numba's documentation,
"Cache invalidation"), so an edited formula would leave the fused loops stale.
Importing this module points numba's cache at a folder named after the
formulas' source hash (under ``NUMBA_CACHE_DIR`` when set, else the user's
cache folder), so a changed formula compiles afresh. The fused modules import
this module before they define their loops.
"""

from __future__ import annotations

import hashlib
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.core import config

import models.keyer_formulas as formulas


def formulas_hash() -> str:
    """The first 12 hex digits of the SHA-256 of the formulas' and this module's sources."""
    digest = hashlib.sha256()
    for path in (formulas.__file__, __file__):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


def _point_cache() -> None:
    user = getattr(config, "CACHE_DIR", "")  # set by numba from NUMBA_CACHE_DIR at import
    base = user or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "mattefarm", "numba")
    setattr(config, "CACHE_DIR", os.path.join(str(base), f"keyer-{formulas_hash()}"))


def jit_formulas(module: types.ModuleType = formulas) -> dict[str, Callable[..., Any]]:
    """Every formula named in ``module.FORMULAS``, compiled for numba (inlined where called).

    Args:
        module: the formulas module (a test may pass one with a formula replaced).

    Returns:
        name -> numba dispatcher, for use inside ``numba.njit`` functions.
    """
    space = dict(vars(module))
    jitted: dict[str, Callable[..., Any]] = {}
    for name in module.FORMULAS:
        function = getattr(module, name)
        copy = types.FunctionType(function.__code__, space, name, function.__defaults__, function.__closure__)
        jitted[name] = numba.njit(inline="always", fastmath=True)(copy)
    space.update(jitted)
    return jitted


_point_cache()
JIT = jit_formulas()
"""The formulas as numba functions, compiled when first used."""
