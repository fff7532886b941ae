"""Peak memory against input size: the CSV, image-folder and arrays sources, and predict; hostile inputs too.

    python benchmarks/memory.py            # the table docs/benchmarks.md shows
    python benchmarks/memory.py --quick    # the smaller sizes only
    python benchmarks/memory.py --tables   # tables only: the 1,000,000-row run and predict, and every column kind
    python benchmarks/memory.py --hostile  # issue 38's cases: a multi-member gzip, a huge vocabulary or length,
                                           # compare of a long history.csv
    python benchmarks/memory.py --text     # predict of 200,000 short messages through a 20,000-word tf-idf model,
                                           # and a run on 54 MB of CJK text read as characters

Each line is one fresh `dlpipe` process (`/usr/bin/time -f %M`: its peak resident set), against a baseline
process that imports what a run imports and reads nothing. "over baseline / input" is the figure that must
stay a small multiple of the input's size, whatever the input holds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def peak_mb(args: list[str], stdin: Path | None = None) -> tuple[float, int, str]:
    """(peak RSS in MB, exit code, last line of stderr) of one process."""
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as feed:
        done = subprocess.run(["/usr/bin/time", "-f", "%M", *args], capture_output=True, text=True, cwd=ROOT,
                              stdin=feed)
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("Command exited")]
    return int(lines[-1]) / 1024, done.returncode, (lines[0] if len(lines) > 1 else "")[-110:]


def csv_table(path: Path, rows: int, long_cell: int = 0) -> Path:
    rng = np.random.default_rng(0)
    with open(path, "w") as out:
        out.write("a,b,c,d,town,price\n")
        towns = np.array(["north", "south", "east", "west"])
        block = 100_000
        for start in range(0, rows, block):
            n = min(block, rows - start)
            x = rng.normal(size=(n, 4))
            town = towns[rng.integers(0, 4, n)]
            if long_cell and start == 0:
                town = town.astype(object)
                town[5] = "x" * long_cell
            price = x @ [1.0, 2.0, -1.0, 0.5] + rng.normal(size=n)
            out.write("".join(f"{a:.4f},{b:.4f},{c:.4f},{d:.4f},{t},{p:.4f}\n"
                              for (a, b, c, d), t, p in zip(x, town, price)))
    return path


def kinds_table(path: Path, rows: int) -> Path:
    """tests/one_reading_tables.py's table of every column kind (numbers, a category with blanks, true/false with
    blanks, categories spelled none and NA, ISO dates, names, notes), repeated to `rows` rows."""
    sys.path.insert(0, str(ROOT / "tests"))
    from one_reading_tables import rows as table_rows

    block = table_rows(1000)
    with open(path, "w") as out:
        out.write(",".join(block[0]) + "\n")
        for start in range(0, rows, len(block)):
            out.write("".join(",".join("" if v is None else f'"{v}"' if "," in str(v) else str(v) for v in row.values())
                              + "\n" for row in block[:rows - start]))
    return path


def kinds_pipeline(folder: Path, path: Path) -> Path:
    spec = folder / "kinds.yaml"
    spec.write_text(f"name: kinds\ndata: {{type: table, path: {path}, target: label, features: [x, rooms, garage, "
                    "heating, sold, name], categorical: [rooms, heating], missing: mean, text: {columns: [name], "
                    "as: tfidf, tokens: chars, ngrams: [1, 3], vocabulary: 40}}\nmodel: {layers: [{type: linear, "
                    "units: 2}]}\ntraining: {epochs: 1, batch_size: 256}\n")
    return spec


def pipeline(folder: Path, data: str, units: int = 1, flatten: bool = False) -> Path:
    path = folder / f"p{len(list(folder.glob('p*.yaml')))}.yaml"  # one file a case: they run after all are made
    layers = "[{type: flatten}, " if flatten else "["
    path.write_text(f"name: m\ndata: {data}\nmodel: {{layers: {layers}{{type: linear, units: {units}}}]}}\n"
                    "training: {epochs: 1, batch_size: 256}\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tables", action="store_true", help="only the table source and predict")
    parser.add_argument("--text", action="store_true", help="only predict through a tf-idf text model")
    parser.add_argument("--hostile", action="store_true", help="only issue 38's hostile cases")
    args = parser.parse_args()
    if args.text:
        return text_predict(Path(tempfile.mkdtemp(prefix="dlpipe-memory-")), [sys.executable, "-m", "dlpipe"])
    if args.hostile:
        return hostile_cases(Path(tempfile.mkdtemp(prefix="dlpipe-memory-")), [sys.executable, "-m", "dlpipe"])
    folder = Path(tempfile.mkdtemp(prefix="dlpipe-memory-"))
    dlpipe = [sys.executable, "-m", "dlpipe"]
    empty = folder / "empty.csv"
    empty.write_text("x,y\n" + "".join(f"{i},{i % 7}.5\n" for i in range(40)))
    base, _, _ = peak_mb([*dlpipe, "run", str(pipeline(folder, f"{{type: csv, path: {empty}, target: y}}")), "-q",
                          "--out", str(folder / "base")])
    print(f"baseline (a run of a 40-row CSV: the interpreter, torch, its compiler, the report): {base:.0f} MB\n")
    print(f"{'input':<54} {'size MB':>8} {'peak MB':>8} {'over baseline / input':>22}  result")
    rows_list = [20_000, 200_000] if args.quick else [20_000, 200_000, 1_000_000]
    cases = []
    for rows in rows_list:
        path = csv_table(folder / f"t{rows}.csv", rows)
        cases.append((f"csv source, {rows:,} rows (run, 1 epoch)", path,
                      [*dlpipe, "run", str(pipeline(folder, f"{{type: csv, path: {path}, target: price}}")), "-q",
                       "--out", str(folder / "out")], None))
    if args.tables and (ROOT / "tests" / "one_reading_tables.py").exists():  # every column kind (dlpipe after 35)
        path = kinds_table(folder / "kinds.csv", rows_list[-1])
        cases.append((f"csv, {rows_list[-1]:,} rows of every column kind (run)", path,
                      [*dlpipe, "run", str(kinds_pipeline(folder, path)), "-q", "--out", str(folder / "out")], None))
    for cell in () if args.tables else (1_000_000, 10_000_000):
        path = csv_table(folder / f"cell{cell}.csv", 2_000, long_cell=cell)
        cases.append((f"csv, 2,000 rows, one {cell // 1_000_000} MB cell (validate)", path,
                      [*dlpipe, "validate", str(pipeline(folder, f"{{type: csv, path: {path}, target: price}}"))], None))
    for n in [] if args.tables else [10_000, 100_000] if args.quick else [10_000, 100_000, 500_000]:
        path = folder / f"a{n}.npz"
        rng = np.random.default_rng(0)
        np.savez(path, x=rng.normal(size=(n, 64)).astype(np.float32), y=rng.normal(size=n).astype(np.float32))
        cases.append((f"arrays source, {n:,} x 64 float32 (run)", path,
                      [*dlpipe, "run", str(pipeline(folder, f"{{type: arrays, path: {path}}}")), "-q", "--out",
                       str(folder / "out")], None))
    from PIL import Image

    for n in [] if args.tables else [500, 5_000] if args.quick else [500, 5_000, 20_000]:
        root = folder / f"img{n}"
        for c in range(2):
            (root / str(c)).mkdir(parents=True)
            for i in range(n // 2):
                Image.fromarray(np.full((32, 32, 3), 40 + 150 * c + i % 50, np.uint8)).save(root / str(c) / f"{i}.png")
        size = n * 32 * 32 * 3  # the decoded pixels: a PNG's size says little about what it decodes to
        cases.append((f"image folder, {n:,} PNGs of 32x32x3 (run; size: pixels)", root,
                      [*dlpipe, "run", str(pipeline(folder, f"{{type: image_folder, root: {root}, cache: false}}",
                                                    units=2, flatten=True)), "-q", "--out", str(folder / "out")],
                      size))
    for label, path, command, size in cases:
        size = size if size is not None else path.stat().st_size
        peak, code, said = peak_mb(command)
        print(f"{label:<54} {size / 1e6:>8.1f} {peak:>8.0f} {(peak - base) / max(size / 1e6, 1e-9):>22.1f}  "
              f"{'ok' if code == 0 else f'exit {code}: ' + said}")
    print()
    train = csv_table(folder / "train.csv", 5_000)
    subprocess.run([*dlpipe, "run", str(pipeline(folder, f"{{type: csv, path: {train}, target: price}}")), "-q",
                    "--out", str(folder / "pred")], capture_output=True, check=True, cwd=ROOT)
    run = next((folder / "pred").glob("*/*/model.pt")).parent
    one = csv_table(folder / "one.csv", 1)
    base, _, _ = peak_mb([*dlpipe, "predict", str(run), str(one)])
    print(f"baseline (predict of one row: the interpreter, torch, the model): {base:.0f} MB")
    for rows in rows_list:
        path = csv_table(folder / f"p{rows}.csv", rows)
        peak, code, said = peak_mb([*dlpipe, "predict", str(run), str(path), "-o", str(folder / f"out{rows}.csv")])
        print(f"{f'predict, {rows:,} rows':<54} {path.stat().st_size / 1e6:>8.1f} {peak:>8.0f} "
              f"{(peak - base) / (path.stat().st_size / 1e6):>22.1f}  {'ok' if code == 0 else said}")
    kinds = next((folder / "out").glob("kinds/*/model.pt"), None)
    if kinds is not None:
        peak, code, said = peak_mb([*dlpipe, "predict", str(kinds.parent), str(folder / "kinds.csv"), "-o",
                                    str(folder / "kinds_out.csv")])
        size = (folder / "kinds.csv").stat().st_size
        print(f"{f'predict, {rows_list[-1]:,} rows of every column kind':<54} {size / 1e6:>8.1f} {peak:>8.0f} "
              f"{(peak - base) / (size / 1e6):>22.1f}  {'ok' if code == 0 else said}")
    if args.tables:
        shutil.rmtree(folder, ignore_errors=True)
        return
    hostile = csv_table(folder / "hostile.csv", 200, long_cell=10_000_000)
    peak, code, said = peak_mb([*dlpipe, "predict", str(run), str(hostile)])
    print(f"{'predict, 200 rows with one 10 MB cell':<54} {hostile.stat().st_size / 1e6:>8.1f} {peak:>8.0f} "
          f"{(peak - base) / (hostile.stat().st_size / 1e6):>22.1f}  exit {code}: {said}")
    shutil.rmtree(folder, ignore_errors=True)


def hostile_cases(folder: Path, dlpipe: list[str]) -> None:
    """Issue 38's memory cases, each one fresh process: peak RSS and how it ended."""
    import gzip

    rng = np.random.default_rng(0)
    with open(folder / "members.csv.gz", "wb") as out:  # 100 members of 6 MB: the last trailer says 6 MB
        out.write(gzip.compress(b"a,b,label\n"))
        for _ in range(100):
            out.write(gzip.compress(b"1,2,x\n3,4,y\n" * 250_000))
    words = np.array([f"w{i}" for i in range(100_000)])
    with open(folder / "words.csv", "w") as out:  # 0.4 MB of text, about 33,000 distinct words
        out.write("text,label\n")
        for i in range(4_000):
            out.write(" ".join(words[rng.integers(0, 100_000, 10)]) + f",{'ab'[i % 2]}\n")
    sine = folder / "sine.yaml"
    sine.write_text("name: hist\ndata: {type: sine, samples: 100}\nmodel: {layers: [{type: linear, units: 1}]}\n"
                    "training: {epochs: 1}\n")
    for _ in range(2):  # two real runs, then 800,000 epochs of history each (45 MB history.csv)
        subprocess.run([*dlpipe, "run", str(sine), "-q", "--out", str(folder / "hist")], check=True,
                       capture_output=True, cwd=ROOT)
    runs = sorted((folder / "hist" / "hist").glob("2*"))
    rows = "".join(f"{i + 1},0.123456789,0.23456789,0.98765432,0.001,{i * 0.01:.4f}\n" for i in range(800_000))
    for run in runs:
        (run / "history.csv").write_text("epoch,train_loss,val_loss,val_r2,lr,time\n" + rows)
    cases = [
        ("validate, a 100-member gzip table (600 MB of text)", folder / "members.csv.gz",
         "data: {type: table, path: members.csv.gz, target: label}", "validate"),
        ("validate, 4,000 rows of text as: bag, vocabulary: 1000000", folder / "words.csv",
         "data: {type: table, path: words.csv, target: label, text: {columns: [text], as: bag, vocabulary: 1000000, "
         "min_count: 1}}", "validate"),
        ("validate, the same text as: sequence, length: 100000", folder / "words.csv",
         "data: {type: table, path: words.csv, target: label, text: {columns: [text], as: sequence, length: 100000}}",
         "validate"),
    ]
    print(f"{'input':<54} {'size MB':>8} {'peak MB':>8}  result")
    for label, path, data, command in cases:
        spec = folder / "p.yaml"
        layers = "[{type: embedding, dim: 8}, {type: global_pool}, {type: linear, units: 2}]" if "sequence" in data \
            else "[{type: linear, units: 2}]"
        spec.write_text(f"name: hostile\n{data}\nmodel: {{layers: {layers}}}\ntraining: {{epochs: 1}}\n")
        args = [*dlpipe, command, str(spec), *(["-q", "--out", str(folder / "out")] if command == "run" else [])]
        peak, code, said = peak_mb(args)
        print(f"{label:<54} {path.stat().st_size / 1e6:>8.1f} {peak:>8.0f}  {'ok' if code == 0 else said}")
    peak, code, said = peak_mb([*dlpipe, "compare", *map(str, runs), "--out", str(folder / "hist")])
    print(f"{'compare, two runs of 800,000 epochs (history.csv)':<54} {90.8:>8.1f} {peak:>8.0f}  "
          f"{'ok' if code == 0 else said}")
    shutil.rmtree(folder, ignore_errors=True)


def text_predict(folder: Path, dlpipe: list[str]) -> None:
    """A tf-idf model of a 20,000-word vocabulary, then predict on 200,000 short rows (issue 38: 12.6 GB)."""
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(30_000)])

    def messages(path: Path, rows: int) -> Path:
        with open(path, "w") as out:
            out.write("text,label\n")
            for i in range(rows):
                out.write(" ".join(words[rng.integers(0, 30_000, 4)]) + f",{'yes' if i % 2 else 'no'}\n")
        return path

    train = messages(folder / "train.csv", 20_000)
    spec = folder / "text.yaml"
    spec.write_text(f"name: text\ndata: {{type: table, path: {train}, target: label, text: {{columns: [text], "
                    "as: tfidf, vocabulary: 20000, min_count: 1}}\nmodel: {layers: [{type: linear, units: 2}]}\n"
                    "training: {epochs: 1}\n")
    subprocess.run([*dlpipe, "run", str(spec), "-q", "--out", str(folder / "out")], check=True, capture_output=True,
                   cwd=ROOT)
    run = next((folder / "out").glob("text/*/model.pt")).parent
    base, _, _ = peak_mb([*dlpipe, "predict", str(run), str(messages(folder / "one.csv", 1))])
    path = messages(folder / "many.csv", 200_000)
    peak, code, said = peak_mb([*dlpipe, "predict", str(run), str(path), "-o", str(folder / "p.csv")])
    print(f"baseline (predict of one row): {base:.0f} MB")
    print(f"{'predict, 200,000 rows through a 20,000-word tf-idf':<54} {path.stat().st_size / 1e6:>8.1f} {peak:>8.0f} "
          f"{(peak - base) / (path.stat().st_size / 1e6):>22.1f}  {'ok' if code == 0 else said}")
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]  # 300 rows of 60,000 CJK characters (54 MB)
    with open(folder / "cjk.csv", "w", encoding="utf-8") as out:
        out.write("text,label\n")
        for i in range(300):
            out.write("".join(rng.choice(chars, 60_000)) + f",{'ab'[i % 2]}\n")
    spec = folder / "cjk.yaml"
    spec.write_text(f"name: cjk\ndata: {{type: table, path: {folder / 'cjk.csv'}, target: label, text: {{columns: "
                    "[text], tokens: chars, as: bag, vocabulary: 2000, max_chars: 100000}}\nmodel: {layers: [{type: "
                    "linear, units: 2}]}\ntraining: {epochs: 1}\n")
    peak, code, said = peak_mb([*dlpipe, "run", str(spec), "-q", "--out", str(folder / "out")])
    size = (folder / "cjk.csv").stat().st_size
    print(f"{'run, 300 rows of 60,000 CJK characters read as chars':<54} {size / 1e6:>8.1f} {peak:>8.0f} "
          f"{(peak - base) / (size / 1e6):>22.1f}  {'ok' if code == 0 else said}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
