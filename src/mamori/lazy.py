"""Names a package exports but loads on first use (PEP 562), so that a start which never uses
them (``mamori server`` without a token or a console request, every ``mamori.testing`` start)
does without their imports (httpx, python-pkcs11, Jinja2)."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name of ``homes`` comes from the submodule
    it maps to, imported on first use."""

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__, not importlib.import_module: the interpreter's own import, which
        # ``-X importtime`` (and so the tests of what a start loads) sees.
        return getattr(__import__(f"{package}.{home}", fromlist=[name]), name)

    return __getattr__
