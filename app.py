"""Gradio entry point (Hugging Face Spaces `app_file`): builds the explorer and launches it."""

from vq_explorer.ui import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch()
