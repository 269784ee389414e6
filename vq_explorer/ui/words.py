"""What the app says about a model, in Markdown: built from the checkpoint's config and metrics, so the service
layer (vq_explorer.service) returns data and the words live with the views that show them."""

from .. import service
from ..service import class_names, has_prior, is_masked

ANY = "(any)"   # the class dropdowns' first entry: no class, an unconditional sample


def class_label(model, choice):
    """A class dropdown's value → the class index the service takes (None for ANY)."""
    return service.label_id(model, None if choice == ANY else choice)


def describe(model) -> str:
    """Markdown: what this model is and how well it does, from the checkpoint's config and metrics."""
    c, m = model.config, model.metrics
    h, w = c["grid"]
    classes = class_names(model)
    colour = "RGB" if c["channels"] == 3 else "greyscale"
    if has_prior(model):
        size = sum(t.numel() for t in model.prior.parameters()) / 1e6
        conditioned = f"conditioned on {len(classes)} classes" if classes else "unconditional"
        family = prior_family(model)
        article = "an" if family.startswith(("RNN", "LSTM")) else "a"   # said "an ar-en-en"
        prior = f"prior: {article} {family}, {size:.2f} M parameters, {conditioned}."
        if c.get("tokenizer"):     # a prior over the codes of a tokenizer made elsewhere
            prior += f" Its tokenizer: `{c['tokenizer'].get('source')}`, opened beside it (the same weights)."
    elif c.get("tokenizer"):
        t = c["tokenizer"]
        family = t.get("family") or ""
        article = "an" if family.startswith(("FSQ", "LFQ", "E")) else "a"
        kind = ("a diffusers VQModel" if t.get("kind") == "diffusers" else f"{article} {family}" if family
                else "a PyTorch model")
        if t.get("decoder") is False:
            kind += " (**no decoder**: codes, grid, usage, margins and the codes' map only)"
        size = t.get("parameters", 0) / 1e6
        side = c["image_size"][0]
        prior = (f"**no prior**: {kind} opened from `{t.get('source')}` ({size:.1f} M parameters), shown its "
                 f"images at up to {side} pixels; the surprise map, bits, sampling and resampling a region need a "
                 "prior trained over its codes.")
    else:
        lab = c.get("lab") or {}
        prior = (f"**no prior**: a VQ-VAE trained in the codebook lab ({lab.get('variant', '?')} quantizer, "
                 f"{lab.get('steps', '?')} steps), for this browser session only; sampling, inpainting and the "
                 "surprise map need a prior.")
    lines = [f"**{c['dataset']}** · {c['image_size'][0]}×{c['image_size'][1]} images, {colour} → "
             f"**{h}×{w} code grid** (downsample {c['downsample']}), **K = {c['num_codes']}** codes of dimension "
             f"{c['code_dim']}; {prior}"]
    if m:
        figures = [("MSE", "mse", "{:.4f}"), ("PSNR", "psnr", "{:.1f} dB"), ("perplexity", "perplexity", "{:.0f}"),
                   ("dead codes", "dead_codes", "{}"), ("bits/code", "bits_per_code", "{:.2f}"),
                   ("bits/image", "bits_per_image", "{:.1f}"), ("sample accuracy", "sample_accuracy", "{:.1%}")]
        lines.append(" · ".join(f"{label} {fmt.format(m[key])}" for label, key, fmt in figures if key in m)
                     + (f" (test split, {m['test_images']} images)" if "test_images" in m else ""))
    t = c.get("train") or {}
    if "vqvae_epochs" in t and "prior_epochs" in t:
        minutes = sum(t.get(f"{s}_minutes") or 0 for s in ("vqvae", "encode", "prior", "export"))
        lines.append(f"Trained for {t['vqvae_epochs']:g} VQ-VAE and {t['prior_epochs']:g} prior epochs "
                     f"({minutes:.0f} min on {t.get('machine', 'an unrecorded machine')}).")
    return "\n\n".join(lines)


def prior_family(model) -> str:
    if not has_prior(model):
        return "none"
    p = model.prior.cfg
    if p.type == "maskgit":
        return (f"masked Transformer (MaskGIT: {p.layers} blocks × {p.dim}, {p.heads} heads; a grid in {p.steps} "
                "parallel steps by default)")
    if p.type == "transformer":
        return f"Transformer ({p.layers} blocks × {p.dim}, {p.heads} heads)"
    if p.type == "rnn":
        return f"RNN (LSTM, {p.layers} layers × {p.hidden}, over the grid read as one sequence)"
    return f"Gated PixelCNN ({p.layers} layers × {p.channels} channels)"


def inpaint_context(model) -> str:
    """Which cells the prior sees when it redraws a region: what the painter tells the user."""
    if not has_prior(model):
        return ("this tokenizer has no prior (it was opened from elsewhere; train one over its codes with "
                "--vqvae-from), so it cannot redraw a region" if model.config.get("tokenizer") else
                "this model has no prior (trained in the codebook lab), so it cannot redraw a region")
    if is_masked(model):
        return "the masked Transformer (MaskGIT) redraws the region seeing the cells on every side"
    name = model.prior.cfg.name
    return (f"the autoregressive {name} redraws the region in reading order, seeing only the cells before each "
            "redrawn cell")


def no_decoder(missing: str) -> str:
    """The one sentence a view that would draw a picture from codes shows, for a tokenizer without a decoder
    (Chameleon's VQ-VAE), in place of a flat grey picture."""
    return f"No decoder: this tokenizer has an encoder and a codebook only, so there is no {missing}."
