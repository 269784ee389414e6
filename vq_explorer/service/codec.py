"""The prior as an entropy coder: a VQ-VAE's code grid written as a file of about −log₂ p(grid) bits.

The grid is the lossy step; an autoregressive prior gives every cell's probabilities given the cells before it,
and a range coder (`constriction`'s) turns each code into about −log₂ p bits. Decoding runs the very same cached
step, cell by cell, on the codes decoded so far, so encoder and decoder see the same probabilities — provided the
arithmetic is the same. So the probabilities are always computed on a CPU copy of the prior (whatever device the
model serves on: a GPU's kernels round differently), on the codec's own worker thread, which runs one thread of
arithmetic that no other request's thread setting reaches (a multi-threaded matrix product can round
differently). A checksum of the header and the grid stops a file decoded with other weights or other arithmetic
with a clear message instead of a wrong image.

Nothing in a file is trusted before it is checked: the grid no larger than the model codes (`max_grid`, the
prior's learned positions), the image's size consistent with the grid and the factor, the class one the prior is
conditioned on. A damaged header is refused before a single cell is decoded; the encoder refuses what the
decoder would.

File layout (little-endian), 10 bytes of header for a shipped model at its training size without a class:

    0  2  magic and version: 0xA7, 2
    2  3  the model: the first 3 bytes of the SHA-256 of its weights
    5  1  flags: 1 a class label follows, 2 the grid's shape follows, 4 the image's size follows
    .  .  class label, grid (h, w), image (H, W): each an unsigned LEB128 integer, present when flagged
    .  4  CRC-32 of the header's bytes before it and of the grid (int16, row by row); version 1: the grid's only
    .     the range coder's 32-bit words
"""

import copy
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, wraps
from pathlib import Path

import numpy as np
import torch

from ..storage.checkpoint import CheckpointError, model_weights, read_metadata, read_tensors, weights_id
from .catalog import made_where, prior_limit
from .errors import UserError
from .inputs import max_grid
from .memo import per_model

MAGIC, VERSION = 0xA7, 2
READS = (1, 2)           # version 1: the same layout, its checksum over the grid alone
HASH_BYTES = 3
FLAG_LABEL, FLAG_GRID, FLAG_SIZE = 1, 2, 4


class CodecError(UserError):
    """A file that cannot be decoded here, or a model that cannot code: the code says which, the params why."""


def _constriction():
    try:
        import constriction
    except ImportError:
        raise CodecError("codec_needs_constriction") from None
    return constriction


@per_model
def model_id(model) -> bytes:
    """A short hash of the model's weights (VQ-VAE and prior): which model a file needs."""
    return weights_id(model_weights(model), HASH_BYTES)


@lru_cache(maxsize=64)
def _file_model_id(path: str, mtime: float) -> bytes | None:
    meta = read_metadata(path)
    if meta.get("codec_id"):
        return bytes.fromhex(meta["codec_id"])[:HASH_BYTES]
    if meta["config"].get("tokenizer") or not meta["config"].get("prior"):
        return None          # its tokenizer's weights live elsewhere, or it has no prior: it codes nothing
    return weights_id(read_tensors(path), HASH_BYTES)


def file_model_id(path) -> bytes | None:
    """`model_id` of a checkpoint file's model, read from the file without building the model (the id its
    metadata records, else a hash of its tensors); None where it cannot code or cannot be read."""
    try:
        return _file_model_id(str(path), Path(path).stat().st_mtime)
    except (CheckpointError, OSError, ValueError):
        return None


def maker(catalog, want: bytes) -> str | None:
    """The name of the catalog's model that made a file naming `want`: the checkpoint files by their recorded
    ids (no model loaded), then the models opened from elsewhere that hold a prior."""
    for name in catalog.files():
        if file_model_id(catalog.path(name)) == want:
            return name
    for name in catalog.names():
        if name not in catalog.files():
            model = catalog.get(name)
            if model.prior is not None and model_id(model) == want:
                return name
    return None


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise CodecError("file_truncated")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos
        if shift > 28:
            raise CodecError("file_number_too_large")


def checksum(grid: torch.Tensor, head: bytes = b"") -> int:
    """CRC-32 of the header's bytes before the checksum (version 2; b"" for version 1) and of the grid."""
    return zlib.crc32(grid.to(torch.int16).contiguous().numpy().tobytes(), zlib.crc32(head))


_ON_WORKER = threading.local()
_START = threading.Lock()
_workers: list[ThreadPoolExecutor] = []


def _one_thread():
    """The worker's own thread count, set once: 1. A thread's setting is its own (OpenMP's), so no request that
    sets another changes it."""
    _ON_WORKER.active = True
    torch.get_num_threads()    # a thread's first call sets its count from the process-wide one: before ours
    torch.set_num_threads(1)


def _worker() -> ThreadPoolExecutor:
    with _START:
        if not _workers:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vqe-codec", initializer=_one_thread)
            before = torch.get_num_threads()
            pool.submit(int).result()
            torch.set_num_threads(before)   # the process-wide default, for threads that start later, as it was
            _workers.append(pool)
        return _workers[0]


def _on_worker(fn):
    """Run `fn` on the codec's worker: one call at a time, one thread of arithmetic, whatever the caller's."""
    @wraps(fn)
    def run(*args, **kwargs):
        if getattr(_ON_WORKER, "active", False):
            return fn(*args, **kwargs)
        return _worker().submit(fn, *args, **kwargs).result()
    return run


def worker_threads() -> int:
    """The threads the codec's probabilities are computed with (1; what the tests hold it to)."""
    return _on_worker(torch.get_num_threads)()


@per_model
def _cpu_prior(model):
    """The prior on the CPU: the model's own where it is there, else a copy (49–4,096 cells: cheap to run)."""
    prior = model.prior
    if next(prior.parameters()).device.type == "cpu":
        return prior
    return copy.deepcopy(prior).cpu().eval()


def _check_model(model):
    if model.prior is None:
        raise CodecError("needs_prior", what="compressing", made=made_where(model))
    if not model.prior.exact_likelihood:
        raise CodecError("codec_masked_prior")


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    """A cell's probabilities for the coder, float64, from the prior's logits (softmax in float64)."""
    return torch.softmax(logits.double(), dim=-1).numpy()


def _cells(model, shape, label, grid: torch.Tensor):
    """(row, col, probabilities) for each cell in raster order, given the codes the caller has written into
    `grid` (1, h, w), on the CPU, before it: the one code path that both the encoder and the decoder run, so both
    see the same probabilities (on the CPU copy of the prior, on the codec's worker)."""
    h, w = shape
    with torch.inference_mode():   # no autograd bookkeeping: the same kernels, less per cell
        cache = _cpu_prior(model).cached_sampler(1, (h, w), _labels(label))
        for r in range(h):
            for col in range(w):
                yield r, col, _probabilities(cache.logits(grid, r, col)[0].float().cpu())


def _labels(label):
    if label is None:
        return None
    return torch.tensor([int(label)])


def largest_grid(model) -> tuple[int, int]:
    """The largest grid this model codes: the app's largest for it (`max_grid`), within the prior's learned
    positions where it has them."""
    h, w = max_grid(model)
    return prior_limit(model, (h, w)) or (h, w)


def check_fields(model, shape, label, size, who: str = "file"):
    """Every field a file names, against what this model can code: the grid, the image's size (its grid at the
    model's factor), the class (only where the prior is conditioned on classes). Cheap, and before any cell.
    `who`: "file" (a header, named damaged) or "codec" (what the encoder was asked to write)."""
    h, w = shape
    top_h, top_w = largest_grid(model)
    if not (1 <= h <= top_h and 1 <= w <= top_w) or prior_limit(model, (h, w)):
        raise CodecError(f"{who}_grid_shape", rows=h, cols=w, max_rows=top_h, max_cols=top_w)
    if size is not None:
        f = model.config["downsample"]
        H, W = size
        if not (H >= 1 and W >= 1 and -(-H // f) == h and -(-W // f) == w):
            raise CodecError(f"{who}_image_size", height=H, width=W, rows=h, cols=w, factor=f)
    classes = model.prior.cfg.num_classes
    if label is not None and not classes:
        raise CodecError(f"{who}_class_unconditional", label=label)
    if label is not None and not 0 <= label < classes:
        raise CodecError(f"{who}_class", label=label, last=classes - 1)


@_on_worker
@torch.no_grad()
def encode_grid(model, grid: torch.Tensor, label: int | None = None, image_size=None) -> bytes:
    """A code grid (h, w) → the file's bytes. `label`: the class it is coded under (the prior's conditional
    probabilities; None: unconditional). `image_size` (H, W): what to crop the decoded image to, stored when it
    is not what the grid implies. Refuses what `decode_grid` would refuse."""
    c = _constriction()
    _check_model(model)
    grid = torch.as_tensor(grid, dtype=torch.long).cpu()
    if grid.dim() != 2:
        raise CodecError("codec_grid_not_2d", shape=tuple(grid.shape))
    K = model.config["num_codes"]
    if grid.min() < 0 or grid.max() >= K:
        raise CodecError("codec_grid_codes", last=K - 1)
    h, w = grid.shape
    label = None if label is None else int(label)
    check_fields(model, (h, w), label, None if image_size is None else tuple(int(n) for n in image_size), "codec")
    probs = np.empty((h * w, K))
    out = torch.full((1, h, w), -1, dtype=torch.long)
    for r, col, p in _cells(model, (h, w), label, out):
        probs[r * w + col] = p
        out[0, r, col] = grid[r, col]
    encoder = c.stream.queue.RangeEncoder()
    encoder.encode(grid.flatten().numpy().astype(np.int32), c.stream.model.Categorical(perfect=False), probs)
    return header(model, grid, label, image_size) + encoder.get_compressed().tobytes()


def header(model, grid, label=None, image_size=None) -> bytes:
    """The file's header for this grid (see the module's docstring)."""
    h, w = grid.shape
    flags, extra = 0, b""
    if label is not None:
        flags |= FLAG_LABEL
        extra += _uleb(int(label))
    if (h, w) != tuple(model.grid):
        flags |= FLAG_GRID
        extra += _uleb(h) + _uleb(w)
    f = model.config["downsample"]
    implied = tuple(model.image_size) if (h, w) == tuple(model.grid) else (h * f, w * f)
    if image_size is not None and tuple(image_size) != implied:
        flags |= FLAG_SIZE
        extra += _uleb(int(image_size[0])) + _uleb(int(image_size[1]))
    head = bytes([MAGIC, VERSION]) + model_id(model) + bytes([flags]) + extra
    return head + struct.pack("<I", checksum(grid, head))


def read_header(data: bytes) -> dict:
    """The header's fields: model (bytes), label, grid (h, w) or None, size (H, W) or None, checksum, and where
    the payload starts."""
    data = bytes(data)
    if len(data) < 2 or data[0] != MAGIC:
        raise CodecError("file_not_ours")
    if data[1] not in READS:
        raise CodecError("file_version_newer" if data[1] > VERSION else "file_version", version=data[1],
                         reads=VERSION)
    pos = 2 + HASH_BYTES + 1
    if len(data) < pos:
        raise CodecError("file_truncated")
    model, flags = data[2:2 + HASH_BYTES], data[2 + HASH_BYTES]
    if flags & ~(FLAG_LABEL | FLAG_GRID | FLAG_SIZE):
        raise CodecError("file_flags")
    label = grid = size = None
    if flags & FLAG_LABEL:
        label, pos = _read_uleb(data, pos)
    if flags & FLAG_GRID:
        h, pos = _read_uleb(data, pos)
        w, pos = _read_uleb(data, pos)
        grid = (h, w)
    if flags & FLAG_SIZE:
        H, pos = _read_uleb(data, pos)
        W, pos = _read_uleb(data, pos)
        size = (H, W)
    if len(data) < pos + 4:
        raise CodecError("file_truncated")
    (crc,) = struct.unpack("<I", data[pos:pos + 4])
    return {"model": model, "label": label, "grid": grid, "size": size, "checksum": crc, "payload": pos + 4,
            "covered": data[:pos] if data[1] >= 2 else b""}


def find_model(data: bytes, models):
    """The model among `models` whose weights the file names."""
    want = read_header(data)["model"]
    for m in models:
        if model_id(m) == want:
            return m
    raise CodecError("file_unknown_model", weights=want.hex(),
                     models=", ".join(model_id(m).hex() for m in models) or "–")


@_on_worker
@torch.no_grad()
def decode_grid(model, data: bytes) -> tuple[torch.Tensor, int | None, tuple | None]:
    """The file's bytes → (grid (h, w), the class it was coded under, the image size it names or None). Every
    header field is checked (`check_fields`) before the first cell is decoded."""
    c = _constriction()
    _check_model(model)
    head = read_header(data)
    if head["model"] != model_id(model):
        raise CodecError("file_other_model", weights=head["model"].hex(), this=model_id(model).hex())
    h, w = head["grid"] or tuple(model.grid)
    check_fields(model, (h, w), head["label"], head["size"])
    payload = np.frombuffer(data[head["payload"]:], dtype=np.uint8)
    if len(payload) % 4 or not len(payload):
        raise CodecError("file_payload_cut")
    decoder = c.stream.queue.RangeDecoder(payload.view(np.uint32).copy())
    categorical = c.stream.model.Categorical(perfect=False)
    grid = torch.full((1, h, w), -1, dtype=torch.long)
    try:
        for r, col, p in _cells(model, (h, w), head["label"], grid):
            grid[0, r, col] = int(decoder.decode(categorical, p[None])[0])
    except Exception as e:   # the coder itself refuses some damaged payloads
        raise CodecError("file_undecodable", kind=type(e).__name__) from None
    grid = grid[0]
    if checksum(grid, head["covered"]) != head["checksum"]:
        raise CodecError("file_checksum")
    return grid, head["label"], head["size"]


def compress(model, x: torch.Tensor, label: int | None = None) -> bytes:
    """An image (1, C, H, W) or (C, H, W) in [0, 1], as the model takes it → the file's bytes."""
    x = x[None] if x.dim() == 3 else x
    grid = model.encode(x)[0]
    return encode_grid(model, grid, label, tuple(x.shape[-2:]))


def decompress(data: bytes, models) -> tuple[torch.Tensor, object, dict]:
    """The file's bytes and the models there are (one, or several) → (image (C, H, W) in [0, 1], the model that
    made it, {grid, label, size})."""
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    model = find_model(data, models)
    grid, label, size = decode_grid(model, data)
    image = model.decode(grid[None], size)[0]
    return image, model, {"grid": grid, "label": label, "size": size}
