"""Resource providers: what creating, updating and deleting one CloudFormation resource type means.

`base.py` is the interface; each service family's module registers its types with `@provider(...)`.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every provider module of this package (each registers its types in base.PROVIDERS)."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
