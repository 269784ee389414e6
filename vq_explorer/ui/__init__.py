"""The Gradio UI: one module per tab, no model math."""

import gradio as gr


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="vq-explorer") as demo:
        gr.Markdown("# vq-explorer\nA VQ-VAE and its Gated PixelCNN prior, made tangible.")
    return demo
