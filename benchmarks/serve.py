"""How fast `dlpipe serve` answers: N concurrent loopback clients against one server, quiet and busy.

    python benchmarks/serve.py [--clients 16] [--seconds 5]

Trains pipelines/iris.yaml once into a temporary archive, starts `dlpipe serve` on it, and prints, for
requests of 1 row and of 1,000 rows: requests/s and the p50/p99 latency of N clients (keep-alive
connections, each sending its next request as soon as the last is answered); `dlpipe predict` as a
process per request (the alternative without a server); and the model's bare forward time on the same
encoded rows, with how many times that the server's p50 is. Busy: another process spins on a core.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from contention import busy  # another program spinning on a core

ROOT = Path(__file__).resolve().parent.parent
FLOWERS = ROOT / "pipelines" / "data" / "iris.csv"


def rows(count: int) -> list[dict]:
    """`count` iris rows (the table's, repeated) as a client sends them."""
    import csv

    with open(FLOWERS, newline="") as handle:
        table = [{k: float(v) for k, v in row.items() if k != "species"} for row in csv.DictReader(handle)]
    return [table[i % len(table)] for i in range(count)]


def load(port: int, body: bytes, clients: int, seconds: float) -> tuple[float, list[float]]:
    """(requests/s, every latency in s) of `clients` threads posting `body` for `seconds`."""
    latencies: list[float] = []
    lock, start = threading.Lock(), threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        start.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            mine.append(time.perf_counter() - began)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - began), latencies


def process_per_request(run: Path, count: int, repeats: int) -> float:
    """Median seconds of `dlpipe predict RUN rows.csv` for `count` rows, a fresh process each time."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows(count)))
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dlpipe", "predict", str(run), str(path)], check=True,
                           capture_output=True)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def bare_forward(run: Path, count: int, repeats: int = 200) -> float:
    """Median seconds of the network alone on `count` encoded rows (no reading, no encoding, no HTTP)."""
    import torch

    import dlpipe

    model = dlpipe.load(run)
    x = model.inputs(rows(count))
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            began = time.perf_counter()
            model.torch_module(x)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3, help="dlpipe predict processes per size")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="dlpipe-serve-bench-"))
    subprocess.run([sys.executable, "-m", "dlpipe", "run", str(ROOT / "pipelines/iris.yaml"), "--out", str(out), "-q"],
                   check=True, capture_output=True)
    run = next((out / "iris").glob("2*"))
    server = subprocess.Popen([sys.executable, "-m", "dlpipe", "serve", str(run), "--port", "0", "-q"],
                              stderr=subprocess.PIPE, text=True)
    port = int(server.stderr.readline().split(":")[-1].split("/")[0])
    print(f"iris, {args.clients} clients for {args.seconds:g} s each; dlpipe predict: median of {args.repeats} "
          "processes\n")
    print(f"{'rows':>5} {'mode':<6} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'rows/s':>9} "
          f"{'predict process s':>17} {'bare forward ms':>15} {'p50 / forward':>13}")
    try:
        for count in (1, 1000):
            body = json.dumps({"rows": rows(count)}).encode()
            load(port, body, 2, 0.5)  # warm up: the first requests import the readers
            forward = bare_forward(run, count)
            process = process_per_request(run, count, args.repeats)
            for mode in ("quiet", "busy"):
                with busy(1) if mode == "busy" else contextlib.nullcontext():
                    rate, latencies = load(port, body, args.clients, args.seconds)
                p50, p99 = np.percentile(latencies, 50), np.percentile(latencies, 99)
                print(f"{count:>5} {mode:<6} {rate:>10.1f} {p50 * 1e3:>8.1f} {p99 * 1e3:>8.1f} {rate * count:>9.0f} "
                      f"{process:>17.2f} {forward * 1e3:>15.3f} {p50 / forward:>12.0f}x")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
