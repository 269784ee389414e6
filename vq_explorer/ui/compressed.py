"""The Reconstruct tab's compressed file: what the image costs as a file of the prior's bits, beside WebP, JPEG and
AVIF at the same PSNR on this very image, with the file to download; and a compressed file uploaded, decoded."""

from .. import service
from ..service import codec
from .common import guarded, status, temp_file


@guarded
def make_file(catalog, checkpoint: str, token):
    """The image reconstructed last as a compressed file: (what it costs beside the classic formats, the file)."""
    if not token:
        raise service.UserError("reconstruct_first")
    name, x = service.recall_input(token)
    model = catalog.get(name)
    c = service.formats.costs(model, x)
    path = temp_file(".vqe", f"{name.removesuffix('.safetensors')}-")
    with open(path, "wb") as f:
        f.write(c["data"])
    others = [f"{called} {got['bytes']:,.0f} bytes (quality {got['quality']})" if got
              else f"{called} does not reach it" for called, got in c["lossy"].items()]
    text = (f"**As a file: {len(c['data']):,} bytes** ({c['header']} of header, the prior's ideal "
            f"{c['ideal']:.1f}, the rest the coder's last word) at {c['psnr']:.1f} dB. For the same "
            f"PSNR on this image: {'; '.join(others)}; lossless PNG {c['png']:,} bytes. Upload the "
            "file here to decode it.")
    return status(text, "file"), path


def is_compressed(path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == codec.MAGIC


def decode_upload(catalog, name: str, path) -> service.Reconstruction:
    """An uploaded compressed file, decoded by the open model when it made the file; otherwise a message naming
    the model that did, when the app has it."""
    with open(path, "rb") as f:
        data = f.read()
    model = catalog.get(name)
    head = codec.read_header(data)
    if model.prior is None or head["model"] != codec.model_id(model):
        made_by = codec.maker(catalog, head["model"])        # named from the files' recorded ids, none loaded
        if made_by:
            raise codec.CodecError("file_made_with", maker=made_by)
        raise codec.CodecError("file_model_missing")
    grid, label, size = codec.decode_grid(model, data)
    image = service.decode_grid(model, grid, size)[None]
    names = service.class_names(model)
    note = (service.Note("decoded_file_of", size=len(data), name=names[label]) if label is not None and names
            else service.Note("decoded_file", size=len(data)))
    return service.reconstruct(model, image, [note], grid=grid)   # the file's own grid, not the image re-encoded
