"""Views of a model kept on disk between starts (the codebook's decoded tiles, its usage over the pictures it was
opened with, its 2-D map): a large tokenizer takes seconds to compute them, and they depend only on its weights.

One safetensors file per model and view, named by a hash of the weights and of what else the view depends on; the
full hash is also in the file's metadata and is checked on every read, so a file is never used for other weights
(a stale file, or two models whose hashes' prefixes meet). The folder is bounded: past `max_bytes` the least
recently used files go. `$VQE_VIEW_CACHE` names the folder ("off" turns the cache off); the default is
`~/.cache/vq-explorer/views`.
"""

import hashlib
import os
import threading
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from .checkpoint import atomic_save_file

FORMAT = "vq-explorer-view/1"
MAX_BYTES = 512 * 2**20
_lock = threading.Lock()


def default_folder() -> Path | None:
    where = os.environ.get("VQE_VIEW_CACHE", "")
    if where.lower() == "off":
        return None
    return Path(where) if where else Path.home() / ".cache" / "vq-explorer" / "views"


def weights_hash(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer (name, shape, dtype, bytes as stored): which weights a view is of."""
    h = hashlib.sha256()     # hardware-accelerated on most CPUs: a 55 M-parameter tokenizer in ~0.3 s
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode() + str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class ViewCache:
    def __init__(self, folder: Path | str | None = None, max_bytes: int = MAX_BYTES):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.max_bytes = max_bytes

    def path(self, key: str, view: str) -> Path:
        """Where a view of this key is stored (the key hashed: any key names a file)."""
        return self.folder / f"{view}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.safetensors"

    def get(self, key: str, view: str) -> dict[str, torch.Tensor] | None:
        """The tensors stored for this key and view, or None (absent, unreadable, or of another key)."""
        if self.folder is None:
            return None
        path = self.path(key, view)
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                if meta.get("format") != FORMAT or meta.get("key") != key or meta.get("view") != view:
                    return None
                tensors = {name: f.get_tensor(name) for name in f.keys()}
            os.utime(path)          # recently used: kept longest
            return tensors
        except (OSError, SafetensorError, ValueError):
            return None

    def put(self, key: str, view: str, tensors: dict[str, torch.Tensor]) -> None:
        """Store (atomically); a folder that cannot be written only costs the next start its time."""
        if self.folder is None:
            return
        try:
            atomic_save_file(tensors, self.path(key, view), {"format": FORMAT, "key": key, "view": view})
            self._bound()
        except OSError:
            pass

    def _bound(self) -> None:
        with _lock:
            files = sorted(self.folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
            total = 0
            for p in files:
                total += p.stat().st_size
                if total > self.max_bytes:
                    p.unlink(missing_ok=True)

    def clear(self) -> int:
        """Remove every stored view; the number of files removed."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        files = list(self.folder.glob("*.safetensors"))
        for p in files:
            p.unlink(missing_ok=True)
        return len(files)

    def size(self) -> int:
        if self.folder is None or not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.glob("*.safetensors"))
