"""Text columns as model inputs: a tokenizer, a vocabulary fitted on the training rows, and three encodings.

numpy only, like preprocess.py (which stores the fitted TextEncoder beside the model). The
text columns of a row are joined in the order configured, with a separator token between
them (so "free" in the subject and in the body is the same word, and a sequence model still
sees where the subject ends). Encodings:

- sequence: token ids, `length` per row, padded with 0 at the end (1: a token outside the
  vocabulary, 2: the separator, 3 on: the vocabulary, most frequent first) for embedding layers;
- bag: the count of each vocabulary token in the row;
- tfidf: those counts times each token's inverse document frequency on the training rows
  (smoothed, as scikit-learn's), each row scaled to unit length.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

CHUNK = 50_000  # rows tokenized at a time (encode, iter_rows) ...
CHUNK_CHARS = 4_000_000  # ... and characters, for iter_rows: a token is a Python object of ~60-80 bytes
PAD, UNKNOWN, SEPARATOR = 0, 1, 2  # the ids before the vocabulary's in a sequence
RESERVED = 3
WORD = re.compile(r"\w+|[^\w\s]")  # words, and each other visible character on its own ("$", "!")


@dataclass(frozen=True)
class TextEncoder:
    """The text settings and the vocabulary fitted on the training rows."""

    columns: tuple[str, ...]
    mode: str  # sequence | bag | tfidf
    tokens: str = "words"  # words | chars
    lowercase: bool = True
    length: int = 200
    vocabulary: tuple[str, ...] = ()
    idf: tuple[float, ...] = ()
    ngrams: tuple[int, int] = (1, 1)  # bag, tfidf: runs of n tokens counted, low <= n <= high

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Token -> id (sequence) or input column (bag, tf-idf)."""
        offset = RESERVED if self.mode == "sequence" else 0
        return {token: i + offset for i, token in enumerate(self.vocabulary)}

    @property
    def ids(self) -> int:
        """Distinct ids of a sequence (the embedding's rows): padding, unknown, separator and the vocabulary."""
        return len(self.vocabulary) + RESERVED

    @property
    def input_names(self) -> list[str]:
        """The inputs of a bag or tf-idf encoding: one per vocabulary token (a sequence has positions instead)."""
        return [] if self.mode == "sequence" else [f"text:{token}" for token in self.vocabulary]

    def tokenize(self, text: str) -> list[str]:
        """The tokens of one cell, and its n-grams (joined by a space for words, nothing for characters)."""
        text = text.lower() if self.lowercase else text
        tokens = list(text) if self.tokens == "chars" else WORD.findall(text)
        low, high = self.ngrams
        if (low, high) == (1, 1):
            return tokens
        glue = "" if self.tokens == "chars" else " "
        return [glue.join(tokens[i:i + n]) for n in range(low, high + 1) for i in range(len(tokens) - n + 1)]

    def rows(self, texts: dict) -> list[list[str]]:
        """Each row's tokens, its columns joined (a sequence puts the separator token between them)."""
        count = len(texts[self.columns[0]])
        joined: list[list[str]] = [[] for _ in range(count)]
        done: dict[str, list[str]] = {}  # a cell's tokens, once per distinct cell (names repeat); rows() is given a
        # chunk at a time (iter_rows, encode), so this holds at most a chunk's
        for number, name in enumerate(self.columns):
            for row, cell in zip(joined, texts[name]):
                if number and self.mode == "sequence":
                    row.append("\x00sep")
                cell = cell_text(cell)
                tokens = done.get(cell)
                if tokens is None:
                    tokens = done[cell] = self.tokenize(cell)
                row.extend(tokens)
        return joined

    def iter_rows(self, texts: dict, indices=None):
        """Each row's tokens (of the rows `indices`, default all), tokenized CHUNK rows at a time: a table of a
        million names never holds every row's tokens at once."""
        indices = np.arange(len(texts[self.columns[0]])) if indices is None else np.asarray(indices)
        cells = {name: np.asarray(texts[name], dtype=object) for name in self.columns}
        for low, high in self.spans(cells, indices):
            yield from self.rows({name: values[indices[low:high]] for name, values in cells.items()})

    def spans(self, cells: dict, indices: np.ndarray):
        """(low, high) ranges of `indices` of at most CHUNK rows and about CHUNK_CHARS characters each: a token is a
        Python object of 60-80 bytes, and one per character of long CJK rows took 2.7 GB for 77 MB of text."""
        for start in range(0, len(indices), CHUNK):
            picked = indices[start:start + CHUNK]
            sizes = np.cumsum([sum(len(cell_text(cells[name][i])) for name in self.columns) for i in picked])
            cuts = [0, *(np.flatnonzero(np.diff(sizes // CHUNK_CHARS) > 0) + 1).tolist(), len(picked)]
            yield from ((start + low, start + high) for low, high in zip(cuts, cuts[1:]) if high > low)

    def encode(self, texts: dict, outside: list[int] | None = None) -> np.ndarray:
        """The rows as model inputs: int64 ids (N, length) or float32 (N, vocabulary), a span at a time (spans).

        outside: [tokens outside the vocabulary, tokens] is added to (what predict notes)."""
        count = len(texts[self.columns[0]])
        out = np.zeros((count, self.length if self.mode == "sequence" else len(self.vocabulary)),
                       dtype=np.int64 if self.mode == "sequence" else np.float32)
        cells = {name: np.asarray(texts[name], dtype=object) for name in self.columns}
        for low, high in self.spans(cells, np.arange(count)):
            rows = self.rows({name: values[low:high] for name, values in cells.items()})
            out[low:high] = self.encode_rows(rows)
            if outside is not None:
                words = [token for row in rows for token in row if token != "\x00sep"]
                outside[0] += sum(token not in self.index for token in words)
                outside[1] += len(words)
        return out

    def encode_rows(self, rows: list[list[str]]) -> np.ndarray:
        """Tokenized rows (rows()) as model inputs."""
        index = self.index
        if self.mode == "sequence":
            out = np.zeros((len(rows), self.length), dtype=np.int64)
            for i, tokens in enumerate(rows):
                ids = [SEPARATOR if t == "\x00sep" else index.get(t, UNKNOWN) for t in tokens[:self.length]]
                out[i, :len(ids)] = ids
            return out
        # The counts as (row, column, value) triples first: tf-idf's weights and norms touch only the tokens a row
        # holds, not the whole rows x vocabulary matrix (on the corpus: 0.25 s against 1.3 s for 20,000 tokens).
        at, where, counts = [], [], []
        for i, tokens in enumerate(rows):
            for token, count in Counter(tokens).items():
                column = index.get(token)
                if column is not None:
                    at.append(i)
                    where.append(column)
                    counts.append(count)
        row, column = np.asarray(at, dtype=np.int64), np.asarray(where, dtype=np.int64)
        values = np.asarray(counts, dtype=np.float64)
        if self.mode == "tfidf":
            values *= np.asarray(self.idf, dtype=np.float64)[column]
            values /= np.sqrt(np.bincount(row, weights=values * values, minlength=len(rows)))[row]
        out = np.zeros((len(rows), len(self.vocabulary)), dtype=np.float32)
        out[row, column] = values
        return out

    def to_json(self) -> dict:
        return {"columns": list(self.columns), "mode": self.mode, "tokens": self.tokens, "lowercase": self.lowercase,
                "length": self.length, "vocabulary": list(self.vocabulary), "idf": list(self.idf),
                "ngrams": list(self.ngrams)}

    @classmethod
    def from_json(cls, data: dict) -> TextEncoder:
        made = cls(**{**data, **{k: tuple(data.get(k, ())) for k in ("columns", "vocabulary", "idf")},
                      "ngrams": tuple(data.get("ngrams", (1, 1)))})
        if made.mode not in ("sequence", "bag", "tfidf") or made.tokens not in ("words", "chars") or \
                not made.columns or not made.vocabulary or (made.mode == "tfidf") != bool(made.idf) or \
                (made.idf and len(made.idf) != len(made.vocabulary)):
            raise ValueError("holds text settings that do not fit together")
        return made


def cell_text(cell) -> str:
    """A text cell as a string: an empty cell (None, NaN) is empty text."""
    if cell is None or (isinstance(cell, float) and cell != cell):
        return ""
    return str(cell)


def fit(draft: TextEncoder, rows, size: int, min_count: int, lengths: list[int] | None = None) -> TextEncoder:
    """The encoder with the `size` most frequent tokens of the training rows (tokenized: draft.rows or
    draft.iter_rows, read once) seen at least min_count times (ties: alphabetical, so a run is reproducible), and
    the inverse document frequencies for tf-idf. lengths: each row's token count is appended (statistics())."""
    columns, mode, tokens, lowercase, length = draft.columns, draft.mode, draft.tokens, draft.lowercase, draft.length
    counts, document, n = Counter(), Counter(), 0
    for row in rows:
        words = [token for token in row if token != "\x00sep"]
        counts.update(words)
        if mode == "tfidf":
            document.update(set(words))
        if lengths is not None:
            lengths.append(len(words))
        n += 1
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))[:size]
    if not kept:
        raise ValueError(f"the training rows hold no token seen at least {min_count} times (min_count)")
    idf = tuple(float(np.log((1 + n) / (1 + document[t])) + 1.0) for t in kept) if mode == "tfidf" else ()
    return TextEncoder(tuple(columns), mode, tokens, lowercase, length, tuple(kept), idf, draft.ngrams)


def statistics(encoder: TextEncoder, lengths: list[int], test) -> dict:
    """What the report's Data section says of the text: vocabulary size, tokens per row on the training split
    (median and 95th percentile, before any cut to `length`: fit()'s lengths), and the share of test tokens
    outside the vocabulary. test: tokenized rows."""
    outside = total = 0
    for row in test:
        words = [t for t in row if t != "\x00sep"]
        total += len(words)
        outside += sum(1 for t in words if t not in encoder.index)
    return {"columns": list(encoder.columns), "mode": encoder.mode, "tokens": encoder.tokens,
            "ngrams": list(encoder.ngrams),
            "vocabulary": len(encoder.vocabulary), "tokens_median": float(np.median(lengths)) if lengths else 0.0,
            "tokens_p95": float(np.percentile(lengths, 95)) if lengths else 0.0,
            "length": encoder.length if encoder.mode == "sequence" else None,
            "cut": float(np.mean([n > encoder.length for n in lengths])) if encoder.mode == "sequence" else None,
            "test_outside": outside / total if total else 0.0}


PADDED = 4  # a sequence length over this many times the 95th percentile of the rows' tokens is mostly padding


def padding_note(encoder: TextEncoder | None, facts: dict | None) -> list[str]:
    """A note when `length` pads nearly every row: memory and time spent on zeros."""
    if encoder is None or encoder.mode != "sequence" or not facts or encoder.length < 512:
        return []
    p95 = int(facts.get("tokens_p95") or 0)
    if encoder.length <= PADDED * max(p95, 1):
        return []
    return [f"text length {encoder.length:,}: 95 % of the training rows hold at most {p95:,} tokens, so most of "
            f"every row is padding (memory and time spent on zeros); length: {max(16, p95):,} keeps 95 % whole"]
