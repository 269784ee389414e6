"""Screenshots of the app on a tokenizer made elsewhere and on a prior trained over its codes, for
docs/tokenizers.md:

    python tools/train_diffusers_vq.py --out runs/cifar10_vqmodel --minutes 12
    vq-explorer-train --dataset cifar10 --name cifar10_vqmodel_prior --vqvae-from runs/cifar10_vqmodel \\
        --prior maskgit --prior-dim 128 --prior-layers 4 --prior-heads 4 --prior-epochs 2 \\
        --out runs/tokenizer_prior/cifar10_vqmodel_prior.safetensors
    python tools/tokenizer_screenshots.py    # writes docs/screenshots/tokenizer_*.png

Needs Debian's Chromium and Playwright (as the browser tests do).
"""

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="runs/cifar10_vqmodel")
    ap.add_argument("--priors", type=Path, default=Path("runs/tokenizer_prior"), help="folder of the prior")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from vq_explorer.storage.tokenizers import open_tokenizer
    from vq_explorer.ui import LAUNCH, build_demo
    tokenizer = open_tokenizer(args.tokenizer, args.size, ROOT / "docs" / "photos")
    demo = build_demo(args.priors, [tokenizer])
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    args.out.mkdir(parents=True, exist_ok=True)
    prior_name = next(iter(sorted(p.name for p in args.priors.glob("*.safetensors"))), None)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                        headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.wait_for_selector("#checkpoint-about p")

            def choose(name):
                page.click("#checkpoint input")
                page.get_by_role("option", name=name, exact=True).click()
                stem = "".join(c if c.isalnum() else "-" for c in name.removesuffix(".safetensors"))
                page.wait_for_selector(f"#checkpoint-about.vqe-model-{stem}", state="attached")

            choose(tokenizer.config["dataset"])
            page.get_by_role("tab", name="Reconstruct").click()
            page.set_input_files("#recon-upload input[type=file]", str(ROOT / "docs" / "photos" / "astronaut.jpg"))
            page.wait_for_selector("#recon-summary.vqe-recon:not(.vqe-tokenizer-example)", state="attached")
            page.wait_for_selector("#recon-output img")
            page.screenshot(path=str(args.out / "tokenizer_reconstruct.png"), full_page=True)
            page.get_by_role("tab", name="Codebook", exact=True).click()
            page.wait_for_selector("#codebook-atlas img")
            page.screenshot(path=str(args.out / "tokenizer_codebook.png"), full_page=True)
            if prior_name:
                choose(prior_name)
                page.get_by_role("tab", name="Sample").click()
                page.wait_for_selector("#sample-status.vqe-opening", state="attached")
                page.screenshot(path=str(args.out / "tokenizer_prior_sample.png"), full_page=True)
                page.get_by_role("tab", name="Reconstruct").click()
                page.wait_for_selector("#recon-surprise .js-plotly-plot")
                page.screenshot(path=str(args.out / "tokenizer_prior_reconstruct.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
