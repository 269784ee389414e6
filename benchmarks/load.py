"""Load test: start the app on 127.0.0.1 and run concurrent gradio_client clients against it.

    python benchmarks/load.py [--clients 20] [--requests 50] [--repeats 2] [--deadline 600]
    python benchmarks/load.py --scenario reconstructs --clients 20 --requests 50 --repeats 3

Each client sends `--requests` requests per repeat (a round). Scenario `mixed` cycles through /reconstruct (a
shipped example as a PNG upload), /decode_grid (a random grid) and /sample (1 sample, instant). Scenario
`reconstructs` is what visitors mostly do, held longer: every request reconstructs a digit none sent before (the
first 1,000 MNIST test images, tests/fixtures), and one in ten is a 720×477 colour photo sent to the colour
model. Reports errors (should be 0), p50/p95 latency per round and per endpoint, and the server's resident
memory after each round: once warm it should level off, not grow with every request. `--max-growth MB` exits 1
when the memory after the last round exceeds the second round's by more (the first warms up). The server is
`python app.py` as deployed, with the environment of this script. Loopback only.
"""

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLOUR_MODEL = "cifar10.safetensors"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc/<pid>/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def example_png(folder: Path) -> tuple[str, tuple[int, int], int]:
    """A shipped MNIST example saved as a PNG to upload, and the model's grid shape and codebook size."""
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    import vq_explorer as vqe
    m = vqe.load(ROOT / "checkpoints" / "mnist.safetensors", device="cpu")
    path = folder / "example.png"
    Image.fromarray(m.examples[0, 0].numpy()).save(path)
    return str(path), m.grid, m.config["num_codes"]


def distinct_uploads(folder: Path, n: int) -> tuple[list[str], str]:
    """`n` distinct digit PNGs (the MNIST test images kept as a fixture, cycled with a one-pixel shift once
    they run out) and one 720×477 colour photo (a repository photo, enlarged to that size)."""
    import numpy as np
    from PIL import Image
    digits = np.load(ROOT / "tests" / "fixtures" / "mnist_test_1000.npz")["images"][:, 0]
    paths = []
    for i in range(n):
        img = np.roll(digits[i % len(digits)], i // len(digits), axis=1)
        paths.append(str(folder / f"digit{i}.png"))
        Image.fromarray(img).save(paths[-1])
    photo = str(folder / "photo.jpg")
    Image.open(ROOT / "docs" / "photos" / "chelsea.jpg").convert("RGB").resize((720, 477)).save(photo, quality=90)
    return paths, photo


def client_loop(client, n, image, grid_shape, K, results, lock, deadline, uploads=None):
    """`uploads`: (this client's distinct digit files, the photo) for the `reconstructs` scenario."""
    from gradio_client import handle_file
    rng = random.Random()
    for i in range(n):
        if time.time() > deadline:
            with lock:
                results.append(("timeout", 0.0, "deadline passed"))
            return
        kind = ("reconstruct", "decode_grid", "sample")[i % 3] if uploads is None else \
            ("photo" if i % 10 == 9 else "reconstruct")
        t = time.perf_counter()
        try:
            if kind == "photo":
                client.predict(handle_file(uploads[1]), COLOUR_MODEL, api_name="/reconstruct")
            elif kind == "reconstruct" and uploads is not None:
                client.predict(handle_file(uploads[0][i]), api_name="/reconstruct")
            elif kind == "reconstruct":
                client.predict(handle_file(image), api_name="/reconstruct")
            elif kind == "decode_grid":
                grid = [[rng.randrange(K) for _ in range(grid_shape[1])] for _ in range(grid_shape[0])]
                client.predict(json.dumps(grid), api_name="/decode_grid")
            else:
                client.predict("mnist.safetensors", "(any)", 1.0, 0, rng.randrange(10**6), 1, "instant",
                               api_name="/sample")
            error = None
        except Exception as e:  # noqa: BLE001 - every failure counts
            error = f"{type(e).__name__}: {e}"[:200]
        with lock:
            results.append((kind, time.perf_counter() - t, error))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=600, help="seconds for the whole run")
    ap.add_argument("--new-sessions", action="store_true",
                    help="new clients (sessions) every repeat, as new visitors would be")
    ap.add_argument("--scenario", choices=("mixed", "reconstructs"), default="mixed")
    ap.add_argument("--temp", type=Path, default=None,
                    help="the server's temporary folders go here (Gradio's cache in gradio/, the app's in app/), "
                         "and the files in them are counted after each round")
    ap.add_argument("--settle", type=float, default=0,
                    help="seconds to wait idle after the last round, then report memory and files again (what the "
                         "cache sweep, every VQE_CACHE_MAX_AGE / 3 seconds, leaves)")
    ap.add_argument("--max-growth", type=float, default=None,
                    help="MB: exit 1 if the server's memory after the last round exceeds that after the second "
                         "by more (the first round warms up: models load, buffers grow)")
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    if args.temp:
        for sub, var in (("gradio", "GRADIO_TEMP_DIR"), ("app", "TMPDIR")):
            (args.temp / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(args.temp / sub)
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + args.deadline
    try:
        import httpx
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the app did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            image, grid_shape, K = example_png(Path(tmp))
            per_client = args.requests * args.repeats
            if args.scenario == "reconstructs":
                digits, photo = distinct_uploads(Path(tmp), args.clients * per_client)
            memory, all_results = [], []
            # The same clients (sessions) in every repeat: memory that grows from repeat to repeat is then a
            # leak, not the ~200 KB of state Gradio keeps per new session (bounded by VQE_MAX_SESSIONS).
            from gradio_client import Client
            for rep in range(args.repeats):
                if rep == 0 or args.new_sessions:
                    clients = [Client(url, verbose=False, download_files=False) for _ in range(args.clients)]
                results, lock = [], threading.Lock()
                t0, cpu0 = time.time(), cpu_seconds(server.pid)
                threads = []
                for c, client in enumerate(clients):
                    uploads = None   # this client's digits for this round: none is sent twice in the run
                    if args.scenario == "reconstructs":
                        first = c * per_client + rep * args.requests
                        uploads = digits[first:first + args.requests], photo
                    threads.append(threading.Thread(target=client_loop, args=(
                        client, args.requests, image, grid_shape, K, results, lock, deadline, uploads)))
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                memory.append(rss_mb(server.pid))
                errors = [r for r in results if r[2]]
                wall = time.time() - t0
                p50, p95 = percentiles([r[1] for r in results if not r[2]])
                print(f"repeat {rep + 1}: {len(results)} requests in {wall:.0f} s ({len(results) / wall:.1f}/s, "
                      f"server CPU {(cpu_seconds(server.pid) - cpu0) / wall:.0%} of one core), "
                      f"{len(errors)} errors, p50 {p50:.2f} s, p95 {p95:.2f} s, "
                      f"server RSS {memory[-1][0]:.0f} MB (peak {memory[-1][1]:.0f} MB)"
                      + (f", files: {files(args.temp)}" if args.temp else ""), flush=True)
                for e in errors[:5]:
                    print("   ", e)
                all_results += results
            if args.settle:
                time.sleep(args.settle)
                print(f"after {args.settle:.0f} s idle: server RSS {rss_mb(server.pid)[0]:.0f} MB"
                      + (f", files: {files(args.temp)}" if args.temp else ""), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"\n{args.clients} clients × {args.requests} requests × {args.repeats} repeats, loopback\n")
    print("| endpoint | requests | errors | p50 s | p95 s |")
    print("|---|---|---|---|---|")
    kinds = ("reconstruct", "decode_grid", "sample") if args.scenario == "mixed" else ("reconstruct", "photo")
    for kind in kinds:
        rs = [r for r in all_results if r[0] == kind]
        p50, p95 = percentiles([r[1] for r in rs if not r[2]])
        label = f"/{kind}" if kind != "photo" else "/reconstruct (photo)"
        print(f"| {label} | {len(rs)} | {sum(1 for r in rs if r[2])} | {p50:.2f} | {p95:.2f} |")
    timeouts = sum(1 for r in all_results if r[0] == "timeout")
    print(f"\ntimeouts: {timeouts}; server RSS after each repeat (MB): "
          + ", ".join(f"{m[0]:.0f}" for m in memory) + f"; peak {max(m[1] for m in memory):.0f} MB")
    growth = memory[-1][0] - memory[0][0] if len(memory) > 1 else 0.0
    after_warmup = ""
    if len(memory) > 2:
        after_warmup = f"; after the first (warm-up) repeat: {memory[-1][0] - memory[1][0]:+.0f} MB"
    print(f"memory growth from first to last repeat: {growth:+.0f} MB{after_warmup}")
    warm_growth = memory[-1][0] - memory[min(1, len(memory) - 1)][0]
    too_much = args.max_growth is not None and warm_growth > args.max_growth
    if too_much:
        print(f"memory grew by {warm_growth:+.0f} MB after the warm-up round, more than the {args.max_growth:.0f} "
              "MB allowed")
    sys.exit(1 if too_much or any(r[2] for r in all_results) else 0)


def files(temp: Path) -> str:
    """How many files the server's temporary folders hold, and their size. The server's cache sweep deletes files
    while they are counted: a file gone before its size is read is not counted."""
    out = []
    for sub in ("gradio", "app"):
        sizes = []
        for p in (temp / sub).rglob("*"):
            try:
                if p.is_file():
                    sizes.append(p.stat().st_size)
            except FileNotFoundError:
                continue
        out.append(f"{sub} {len(sizes)} ({sum(sizes) / 1e6:.1f} MB)")
    return ", ".join(out)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ok = sorted(latencies)
    if not ok:
        return float("nan"), float("nan")
    return statistics.median(ok), ok[int(0.95 * (len(ok) - 1))]


if __name__ == "__main__":
    main()
