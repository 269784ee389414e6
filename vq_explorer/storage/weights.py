"""Reading some tensors of a model's safetensors files, and only those: from a folder, or from a Hugging Face Hub
repository by byte ranges.

A multimodal model's tokenizer is a small part of a large checkpoint (Janus-Pro-7B's VQ-VAE is well under 1% of
its bytes). The safetensors index (`model.safetensors.index.json`, `weight_map`: tensor → shard) says which shards
hold the wanted tensors; shards that hold none are never opened. A safetensors file starts with an 8-byte length
and a JSON header giving every tensor's dtype, shape and byte offsets, so from the Hub the header and then the
wanted tensors' byte ranges are read (`huggingface_hub.HfFileSystem.cat_file` with `start`/`end`), nothing else.
"""

import json
import struct
from pathlib import Path

import torch

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.ckpt")
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
HEADER_MAX = 100 << 20     # a header longer than this is no safetensors header


class WeightsError(ValueError):
    """Weights that cannot be read as asked; the message says why, in one line."""


class Files:
    """The files of a model folder (a local folder, or a Hub repository's subfolder): `read(name, start, end)`
    bytes, `exists(name)`, and `fetched` (the bytes read so far)."""

    def __init__(self, where: str):
        self.where, self.fetched = where, 0

    def json(self, name: str) -> dict:
        try:
            return json.loads(self.read(name).decode())
        except (ValueError, UnicodeDecodeError):
            raise WeightsError(f"{self.where}/{name} is not valid JSON") from None


class LocalFiles(Files):
    def __init__(self, folder: Path):
        super().__init__(str(folder))
        self.folder = Path(folder)

    def exists(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def read(self, name: str, start: int = 0, end: int | None = None) -> bytes:
        with open(self.folder / name, "rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(end - start)
        self.fetched += len(data)
        return data


class HubFiles(Files):
    """A Hub repository's (sub)folder through `huggingface_hub.HfFileSystem`: small files whole (they come from
    huggingface_hub's cache folder `local`), safetensors by byte ranges."""

    def __init__(self, repo_id: str, subfolder: str | None, local: Path, fs=None, revision: str | None = None):
        super().__init__(f"hf://{repo_id}" + (f"/{subfolder}" if subfolder else ""))
        import huggingface_hub
        self.fs = fs or huggingface_hub.HfFileSystem()
        at = f"@{revision}" if revision else ""       # HfFileSystem's repo@revision/path: the config's commit
        self.prefix = f"{repo_id}{at}/" + (f"{subfolder}/" if subfolder else "")
        self.local = Path(local)

    def exists(self, name: str) -> bool:
        if (self.local / name).is_file():
            return True
        try:
            return bool(self.fs.exists(self.prefix + name))
        except Exception:  # noqa: BLE001 - unreachable: treated as absent, the caller says what is missing
            return False

    def read(self, name: str, start: int = 0, end: int | None = None) -> bytes:
        if (self.local / name).is_file():
            data = (self.local / name).read_bytes()[start:end]
        else:
            try:
                data = self.fs.cat_file(self.prefix + name, start=start, end=end)
            except FileNotFoundError:
                raise WeightsError(f"{self.where} has no {name}") from None
            except Exception as e:  # noqa: BLE001 - offline, gated, rate-limited: one line
                raise WeightsError(f"could not read {name} from {self.where}: {type(e).__name__}: "
                                   f"{str(e).splitlines()[0][:120] if str(e) else ''}") from None
        self.fetched += len(data)
        return data


def header(files: Files, name: str) -> tuple[dict, int]:
    """A safetensors file's header (tensor → dtype, shape, data_offsets) and where its data starts."""
    head = files.read(name, 0, 8)
    if len(head) < 8:
        raise WeightsError(f"{files.where}/{name} is not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", head)
    if not 2 <= n <= HEADER_MAX:
        raise WeightsError(f"{files.where}/{name} is not a safetensors file (its header length is {n})")
    try:
        meta = json.loads(files.read(name, 8, 8 + n).decode())
    except (ValueError, UnicodeDecodeError):
        raise WeightsError(f"{files.where}/{name} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(meta, dict):
        raise WeightsError(f"{files.where}/{name} is not a safetensors file")
    meta.pop("__metadata__", None)
    return meta, 8 + n


def layout(files: Files) -> dict[str, str]:
    """Tensor name → the file holding it: from the index of a sharded save, else the one `model.safetensors`.
    Pickled weights are refused, never read."""
    if files.exists(INDEX):
        index = files.json(INDEX)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise WeightsError(f"{files.where}/{INDEX} has no weight_map")
        return {str(k): str(v) for k, v in weight_map.items()}
    if files.exists(SINGLE):
        return {name: SINGLE for name in header(files, SINGLE)[0]}
    pickled = [p for p in PICKLED if files.exists(p)]
    if pickled:
        raise WeightsError(f"{files.where} has only {', '.join(pickled)} (pickled weights, which vq-explorer "
                           "never unpickles): it needs model.safetensors or a sharded safetensors save")
    raise WeightsError(f"{files.where} has no {SINGLE} or {INDEX}")


def _tensor(data: bytes, info: dict, name: str, where: str) -> torch.Tensor:
    dtype = DTYPES.get(info.get("dtype"))
    if dtype is None:
        raise WeightsError(f"{where}: tensor {name} has a dtype vq-explorer does not read ({info.get('dtype')})")
    shape = [int(s) for s in info.get("shape", [])]
    count = 1
    for s in shape:
        count *= s
    if len(data) != count * torch.empty((), dtype=dtype).element_size():
        raise WeightsError(f"{where}: tensor {name}'s bytes do not match its shape {shape}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape).clone()


def read_tensors(files: Files, names: list[str], weight_map: dict[str, str]) -> dict[str, torch.Tensor]:
    """The tensors `names`, reading only the files that hold them and, in each, only their bytes (neighbouring
    tensors in one request)."""
    by_file: dict[str, list[str]] = {}
    for n in names:
        by_file.setdefault(weight_map[n], []).append(n)
    out = {}
    for file, wanted in sorted(by_file.items()):
        if Path(file).suffix != ".safetensors" or "/" in file or "\\" in file or file.startswith("."):
            raise WeightsError(f"{files.where}: its index names {file!r}, which is no safetensors file beside it"
                               + (" (pickled weights are never read)" if file.endswith((".bin", ".pt")) else ""))
        if not files.exists(file):
            raise WeightsError(f"{files.where}: its index names {file}, which is not there (a missing shard)")
        meta, start = header(files, file)
        missing = [n for n in wanted if n not in meta]
        if missing:
            raise WeightsError(f"{files.where}/{file} lacks {missing[0]}, which its index places there")
        spans = sorted((meta[n]["data_offsets"][0], meta[n]["data_offsets"][1], n) for n in wanted)
        run: list = []
        for span in spans + [None]:          # read runs of adjacent tensors in one range each
            if span is not None and run and span[0] == run[-1][1]:
                run.append(span)
                continue
            if run:
                blob = files.read(file, start + run[0][0], start + run[-1][1])
                for lo, hi, n in run:
                    out[n] = _tensor(blob[lo - run[0][0]: hi - run[0][0]], meta[n], n, f"{files.where}/{file}")
            run = [span] if span is not None else []
    return out
