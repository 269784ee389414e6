"""A diffusers model on the Hugging Face Hub, fetched file by file through `huggingface_hub` (its cache, its
progress bar): the config first (one small file) and its class checked, then exactly the weights file diffusers
loads, `diffusion_pytorch_model.safetensors` — never a repository's other models, never its fp16 or other
variants, never a pickle. A repository without a config where one was asked for is refused before any weights
come down, naming the folders that hold one (from the repository's file list, which downloads nothing).

The commit a model was fetched at is returned with it, so a prior trained over it can record it and open the
very same files later (`revision=`), whatever the repository holds by then.
"""

import json
from pathlib import Path, PurePosixPath

CONFIG = "config.json"
WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLED = ("diffusion_pytorch_model.bin", "pytorch_model.bin", "model.ckpt")


class HubError(ValueError):
    """A Hub model that cannot be fetched; the message says why, in one line."""


def _kinds(e: Exception) -> set[str]:
    """The names of an exception's classes: huggingface_hub's errors moved between modules across versions."""
    return {c.__name__ for c in type(e).__mro__}


def _why(repo_id: str, e: Exception) -> HubError:
    kinds = _kinds(e)
    why = ("no such repository (or it is private)" if "RepositoryNotFoundError" in kinds else
           "no such revision" if "RevisionNotFoundError" in kinds else
           "the Hub cannot be reached from here and the files are not in the cache"
           if kinds & {"LocalEntryNotFoundError", "ConnectError", "ConnectionError", "OfflineModeIsEnabled"} else
           f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}")
    return HubError(f"could not fetch {repo_id}: {why}")


def _missing(e: Exception) -> bool:
    """A file the repository does not have (not a file that could not be reached)."""
    kinds = _kinds(e)
    return "EntryNotFoundError" in kinds and "LocalEntryNotFoundError" not in kinds


def commit_of(path) -> str | None:
    """The commit a file in huggingface_hub's cache belongs to: its `snapshots/<commit>/` folder."""
    parts = Path(path).parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else None


def files(hub, repo_id: str, revision: str | None) -> list[str]:
    try:
        return list(hub.list_repo_files(repo_id, revision=revision))
    except Exception as e:  # noqa: BLE001 - offline, unknown repository, gated: one line each
        raise _why(repo_id, e) from None


def folders_with_config(listing: list[str]) -> list[str]:
    return sorted(str(PurePosixPath(f).parent) for f in listing
                  if PurePosixPath(f).name == CONFIG and str(PurePosixPath(f).parent) != ".")


def _huggingface_hub():
    try:
        import huggingface_hub
    except ImportError:
        raise HubError("opening a Hub id needs huggingface_hub: pip install huggingface_hub") from None
    return huggingface_hub


def download_file(repo_id: str, subfolder: str | None, name: str, revision=None,
                  cache_dir=None) -> str | None:
    """One file through huggingface_hub's cache; None where the repository does not have it."""
    try:
        return _huggingface_hub().hf_hub_download(repo_id, name, subfolder=subfolder, revision=revision,
                                                  cache_dir=cache_dir)
    except Exception as e:  # noqa: BLE001 - offline, unknown repository, gated, rate-limited: one line each
        if _missing(e):
            return None
        raise _why(repo_id, e) from None


def fetch_config(repo_id: str, subfolder: str | None, revision: str | None = None, cache_dir=None) -> Path:
    """The config of a Hub (sub)folder, fetched alone: what it holds decides what else to fetch. A folder
    without one is refused naming the folders that have one (from the file list: nothing downloaded)."""
    config_path = download_file(repo_id, subfolder, CONFIG, revision, cache_dir)
    if config_path is None:
        where = f"{repo_id}/{subfolder}" if subfolder else repo_id
        inside = folders_with_config(files(_huggingface_hub(), repo_id, revision))
        hint = (f": the folders holding one are {', '.join(inside[:8])} (hf://{repo_id}/{inside[0]})" if inside
                else "")
        raise HubError(f"{where} has no {CONFIG}, so it is not a model folder{hint}")
    return Path(config_path)


def fetch_diffusers(repo_id: str, subfolder: str | None, revision: str | None = None, cache_dir=None,
                    kind: str = "VQModel", config_path: Path | None = None) -> tuple[Path, str | None]:
    """(the local folder holding the model's config and weights, the commit they were fetched at).
    `config_path`: the config, where `fetch_config` already brought it."""
    hub = _huggingface_hub()
    where = f"{repo_id}/{subfolder}" if subfolder else repo_id

    def download(name: str) -> str | None:
        return download_file(repo_id, subfolder, name, revision, cache_dir)

    config_path = config_path or fetch_config(repo_id, subfolder, revision, cache_dir)
    try:
        config = json.loads(Path(config_path).read_text())
    except (ValueError, UnicodeDecodeError):
        raise HubError(f"{where}: its {CONFIG} is not valid JSON") from None
    found = config.get("_class_name") if isinstance(config, dict) else None
    if found != kind:
        raise HubError(f"{where} holds a {found or 'model of unknown class'}, not a {kind}: vq-explorer opens "
                       "vector-quantized tokenizers (diffusers' VQModel)")
    weights = download(WEIGHTS)
    if weights is None:
        prefix = f"{subfolder}/" if subfolder else ""
        listing = files(hub, repo_id, revision)
        pickled = [p for p in PICKLED if f"{prefix}{p}" in listing]
        raise HubError(f"{where} has no {WEIGHTS}" + (f" (only {', '.join(pickled)}, which vq-explorer never "
                                                      "unpickles: convert it to safetensors)" if pickled else ""))
    return Path(config_path).parent, commit_of(config_path)
