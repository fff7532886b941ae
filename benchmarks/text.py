"""Text and series: how fast the SpamAssassin corpus is tokenized, and the shipped text and series pipelines' wall time
and targets, from the shell prompt.

Run: DLPIPE_DATA=../shared/data python benchmarks/text.py [--repeats 5]

Tokenizing: the 3,250 messages (subject and body) read once, then the tokenizer and vocabulary
fitted and every message encoded, for each `as:` (median of the repeats; the issue asks for well
under a second). Pipelines: `dlpipe run` of spam.yaml, spam_sequence.yaml and elnino.yaml, each
run `--repeats` times in a fresh process: the median wall time, the test accuracy (target >= 0.97)
or, for El Niño, the test MAE against the naive forecast's (target: lower).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DLPIPE_DATA", ROOT.parent / "shared" / "data")) / "spamassassin" / "spamassassin-1.csv.gz"


def tokenizing(repeats: int) -> None:
    """Fit and encode the whole corpus per mode; messages per second."""
    import pandas as pd

    from dlpipe.data import text

    frame = pd.read_csv(CORPUS, keep_default_na=False)
    rows = {name: frame[name].astype(str).tolist() for name in ("subject", "body")}
    size = sum(len(v) for column in rows.values() for v in column) / 1e6
    print(f"corpus: {len(frame):,} messages, {size:.1f} million characters")
    # (as:, vocabulary): spam.yaml's, a bag of the same words, spam_sequence.yaml's, and a 20,000-word tf-idf (a
    # 3,250 x 20,000 float32 matrix: most of its time is the first touch of its 260 MB)
    for mode, size_ in (("tfidf", 8000), ("bag", 8000), ("sequence", 20_000), ("tfidf", 20_000)):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            draft = text.TextEncoder(tuple(rows), mode, "words", True, 500)
            tokens = draft.rows(rows)
            encoder = text.fit(draft, tokens, size_, 2)
            encoder.encode_rows(tokens)
            times.append(time.perf_counter() - t)
        best, median = min(times), statistics.median(times)
        print(f"  as: {mode:<9} vocabulary {size_:>6,}  tokenize + fit + encode  median {median:.3f} s (best "
              f"{best:.3f})  {len(frame) / median:>7,.0f} messages/s  {size / median:5.1f} M characters/s")


def pipelines(repeats: int) -> None:
    """Each shipped text and series pipeline in fresh processes: wall time, and its target met or missed."""
    for name in ("spam", "spam_sequence", "elnino"):
        walls, records = [], []
        with tempfile.TemporaryDirectory() as out:
            for _ in range(repeats):
                t = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "dlpipe", "run", f"pipelines/{name}.yaml", "--out", out,
                                       "-q"], cwd=ROOT, capture_output=True, text=True)
                walls.append(time.perf_counter() - t)
                if done.returncode:
                    sys.exit(f"{name}: {done.stderr.strip()}")
                records.append(json.loads(sorted(Path(out).glob(f"{name}/*/metrics.json"))[-1].read_text()))
        wall = f"wall median {statistics.median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f})"
        if name == "elnino":
            mine, naive = records[-1]["test"]["mae"], records[-1]["baselines"]["naive"]["mae"]
            met = mine < naive
            print(f"  {name + '.yaml':<19} {wall}  test MAE {mine:.3f} vs naive {naive:.3f}: "
                  f"{'beats it' if met else 'MISSED'}")
        else:
            accuracy = min(r["test"]["accuracy"] for r in records)
            print(f"  {name + '.yaml':<19} {wall}  test accuracy {accuracy:.4f} (lowest)  target >= 0.97: "
                  f"{'met' if accuracy >= 0.97 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not CORPUS.is_file():
        sys.exit(f"{CORPUS}: not found; set DLPIPE_DATA to the folder holding spamassassin/")
    print(f"machine: {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable; {time.strftime('%Y-%m-%d')}")
    tokenizing(args.repeats)
    print("pipelines (dlpipe run, a fresh process each):")
    pipelines(args.repeats)


if __name__ == "__main__":
    main()
