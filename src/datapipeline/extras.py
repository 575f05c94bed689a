"""How to install an optional extra of this project, for error messages and help.

The distribution is installed from its checkout: a package named ``datapipeline`` on a public
index is another project, so a hint never asks an index for it by name.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """The command installing the optional dependencies ``extra`` (``viz``, ``gcp``…)."""
    return (
        f"pip install -e '.[{extra}]' in the DataPipeline checkout "
        f"(with uv: uv pip install -e '.[{extra}]')"
    )
