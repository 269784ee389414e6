"""What `vqe.open("hf://…Janus-Pro…")` fetches against the repository's size, for Janus-Pro-1B and -7B as
transformers' JanusForConditionalGeneration lays them out in bf16 safetensors shards.

    python benchmarks/janus_pro_bytes.py [--max-shard-size 5GB]

The model is built on the meta device (no memory, no download) at each size's configuration: the language model
is DeepSeek-LLM 1.5B (hidden 2048, 24 layers, MLP 5632) or 7B (hidden 4096, 30 layers, MLP 11008), vocabulary
102,400, the SigLIP-L vision tower at 384 px, and the VQ-16 tokenizer (vq_config: K 16,384, d 8; the aligner and
head at the language model's width). Its tensors are split into shards as `save_pretrained` splits them
(huggingface_hub's split_torch_state_dict_into_shards), and the fetch is counted as storage.weights reads it:
config.json and the index, then for each shard holding VQ tensors its 8-byte length, its JSON header, and the VQ
tensors' bytes. The layouts are modelled here; a machine with the internet should compare them with the published
indexes (`model.safetensors.index.json`) of the converted repositories.
"""

import argparse
import json

import torch

SIZES = {"Janus-Pro-1B": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
                          "num_attention_heads": 16, "num_key_value_heads": 16},
         "Janus-Pro-7B": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 30,
                          "num_attention_heads": 32, "num_key_value_heads": 32}}


def layout(name: str, max_shard_size: str):
    from huggingface_hub import split_torch_state_dict_into_shards
    from transformers import JanusConfig, JanusForConditionalGeneration
    text = {"model_type": "llama", "vocab_size": 102400, "max_position_embeddings": 16384, **SIZES[name]}
    width = SIZES[name]["hidden_size"]
    config = JanusConfig(text_config=text, vq_config={"embed_dim": 8, "num_embeddings": 16384,
                                                      "projection_dim": width, "image_token_embed_dim": width},
                         image_token_id=100581)
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config).to(torch.bfloat16)
    state = model.state_dict()
    split = split_torch_state_dict_into_shards(state, max_shard_size=max_shard_size,
                                               filename_pattern="model{suffix}.safetensors")
    return state, split.tensor_to_filename


def header_bytes(state, names) -> int:
    """The size of a safetensors header for these tensors (names, dtypes, shapes and offsets as JSON)."""
    meta, offset = {}, 0
    for n in sorted(names):
        size = state[n].numel() * state[n].element_size()
        meta[n] = {"dtype": "BF16", "shape": list(state[n].shape), "data_offsets": [offset, offset + size]}
        offset += size
    return 8 + len(json.dumps(meta, separators=(",", ":")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-shard-size", default="5GB")
    args = ap.parse_args()
    print(f"`python benchmarks/janus_pro_bytes.py --max-shard-size {args.max_shard_size}` (modelled layouts, "
          "bf16)\n")
    print("| model | repository (tensors) | shards | shards with VQ tensors | VQ-VAE tensors | fetched | share |")
    print("|---|---|---|---|---|---|---|")
    for name in SIZES:
        state, where = layout(name, args.max_shard_size)
        nbytes = {n: t.numel() * t.element_size() for n, t in state.items()}
        vq = [n for n in state if ".vqmodel." in n]
        vq_shards = {where[n] for n in vq}
        index = len(json.dumps({"metadata": {}, "weight_map": where}, indent=2))
        fetched = index + sum(header_bytes(state, [n for n in state if where[n] == s]) for s in vq_shards) \
            + sum(nbytes[n] for n in vq)
        total = sum(nbytes.values())
        print(f"| {name} | {total / 1e9:.2f} GB | {len(set(where.values()))} | {len(vq_shards)} | "
              f"{sum(nbytes[n] for n in vq) / 1e6:.0f} MB | {fetched / 1e6:.0f} MB | {fetched / total:.1%} |")


if __name__ == "__main__":
    main()
