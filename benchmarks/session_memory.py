"""What one browser or API session costs the server: Gradio keeps a SessionState (a copy of the UI's config) per
session until VQE_MAX_SESSIONS newer ones push it out.

    python benchmarks/session_memory.py [--sessions 20]
"""

import argparse
import gc
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20)
    args = ap.parse_args()
    from gradio.state_holder import SessionState

    from vq_explorer.ui import MAX_SESSIONS, build_demo
    demo = build_demo()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sessions = [SessionState(demo) for _ in range(args.sessions)]
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    per = grown / len(sessions)
    print(f"{len(demo.blocks)} blocks; {len(sessions)} sessions hold {grown / 1e6:.2f} MB, {per / 1e3:.0f} KB "
          f"each; at the cap of {MAX_SESSIONS} sessions: {per * MAX_SESSIONS / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
