"""Text columns: the tokenizer and vocabulary (data/text.py), CSV tables with text: on real mail, and bad input."""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import random
from pathlib import Path

import numpy as np
import pytest

from dlpipe.data import text

from conftest import ROOT

CORPUS = Path(os.environ.get("DLPIPE_DATA", "../shared/data")) / "spamassassin" / "spamassassin-1.csv.gz"
needs_corpus = pytest.mark.skipif(not CORPUS.is_file(), reason="the SpamAssassin corpus is not on this machine")


def encoder(mode: str, rows: dict, size: int = 100, min_count: int = 1, length: int = 8, tokens: str = "words"):
    draft = text.TextEncoder(tuple(rows), mode, tokens, True, length)
    return text.fit(draft, draft.rows(rows), size, min_count)


def test_words_keep_symbols_apart_and_the_vocabulary_is_by_frequency_then_alphabet():
    made = encoder("bag", {"s": ["Win $$$ now!", "win a prize", "Now or never"]})
    assert made.tokenize("Win $5, NOW!") == ["win", "$", "5", ",", "now", "!"]
    assert made.vocabulary[:3] == ("$", "now", "win")  # "$" three times; "now" and "win" twice: alphabetical
    counts = made.encode({"s": ["win win $", ""]})
    assert counts[0, made.index["win"]] == 2 and counts[0, made.index["$"]] == 1 and counts[1].sum() == 0


def test_a_sequence_joins_columns_with_a_separator_cuts_and_pads():
    made = encoder("sequence", {"a": ["x y", "y"], "b": ["z", "x"]}, length=4)
    x, y, z = (made.index[t] for t in "xyz")
    assert min(x, y, z) == text.RESERVED  # 0 padding, 1 unknown, 2 separator come first
    ids = made.encode({"a": ["x y x y x", "", "q"], "b": ["z", "", None]})
    assert ids.tolist() == [[x, y, x, y], [text.SEPARATOR, 0, 0, 0], [text.UNKNOWN, text.SEPARATOR, 0, 0]]
    assert ids.dtype == np.int64 and made.ids == 3 + 3


def test_tfidf_is_scikit_learns_smoothed_idf_and_rows_of_unit_length():
    made = encoder("tfidf", {"s": ["a b a", "b c", "b"]})
    n, document = 3, {"a": 1, "b": 3, "c": 1}
    assert made.idf == pytest.approx([math.log((1 + n) / (1 + document[t])) + 1 for t in made.vocabulary])
    row = made.encode({"s": ["a a c"]})[0]
    expected = np.array([2 * made.idf[made.index["a"]], 0, made.idf[made.index["c"]]])
    expected = expected / np.linalg.norm(expected)
    assert row[[made.index[t] for t in "abc"]] == pytest.approx(expected, rel=1e-6)
    assert np.linalg.norm(row) == pytest.approx(1.0)


def test_min_count_and_size_bound_the_vocabulary_and_characters_work_too():
    rows = {"s": ["aa bb cc", "aa bb", "aa"]}
    assert encoder("bag", rows, min_count=2).vocabulary == ("aa", "bb")
    assert encoder("bag", rows, size=1).vocabulary == ("aa",)
    assert encoder("bag", {"s": ["abca"]}, tokens="chars").vocabulary == ("a", "b", "c")
    with pytest.raises(ValueError, match="no token seen at least 5 times"):
        encoder("bag", rows, min_count=5)


def test_the_encoder_survives_its_json_and_refuses_a_broken_one():
    made = encoder("tfidf", {"s": ["a b", "b c"]})
    again = text.TextEncoder.from_json(json.loads(json.dumps(made.to_json())))
    assert again == made and (again.encode({"s": ["a c"]}) == made.encode({"s": ["a c"]})).all()
    with pytest.raises(ValueError, match="do not fit together"):
        text.TextEncoder.from_json({**made.to_json(), "idf": [1.0]})


@pytest.fixture(scope="module")
def mail(tmp_path_factory) -> Path:
    """600 real messages of the corpus (a third spam), gzip-compressed as a user would keep them."""
    if not CORPUS.is_file():
        pytest.skip("the SpamAssassin corpus is not on this machine")
    with gzip.open(CORPUS, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(0).shuffle(rows)
    spam = [r for r in rows if r["label"] == "spam"][:200]
    ham = [r for r in rows if r["label"] == "ham"][:400]
    path = tmp_path_factory.mktemp("mail") / "mail.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        out = csv.DictWriter(handle, fieldnames=["subject", "body", "label"])
        out.writeheader()
        out.writerows(spam + ham)
    return path


MAIL = """\
name: mail
seed: 1
data:
  type: csv
  path: {path}
  target: label
  text: {{columns: [subject, body], as: {mode}, vocabulary: 3000, min_count: 2}}
model: {{layers: [{{type: linear, units: 2}}]}}
optimizer: {{type: adam, lr: 1.0e-2}}
training: {{epochs: 12, batch_size: 32}}
metrics: [accuracy]
"""


@needs_corpus
@pytest.mark.parametrize("mode", ["tfidf", "bag"])
def test_real_mail_in_a_gzip_csv_is_told_apart_and_the_report_says_how_and_why(cli, write_yaml, tmp_path, mail, mode):
    result = cli("run", write_yaml(MAIL.format(path=mail, mode=mode)), "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.glob("mail/*"))
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["test"]["accuracy"] >= 0.9  # the majority class alone: 0.67
    facts = record["data"]["text"]
    assert facts["vocabulary"] == 3000 and facts["mode"] == mode and facts["tokens_p95"] > facts["tokens_median"] > 20
    assert 0 < facts["test_outside"] < 0.3
    html = (run_dir / "report.html").read_text()
    assert "What the model learned from the text" in html and "toward spam" in html
    assert "a vocabulary of 3,000 tokens fitted on the training rows" in html
    prep = json.loads((run_dir / "preprocessing.json").read_text())
    assert prep["text"]["mode"] == mode and len(prep["text"]["vocabulary"]) == 3000


@needs_corpus
def test_predict_reads_raw_text_and_an_empty_message_is_empty_text(cli, write_yaml, tmp_path, mail, monkeypatch):
    assert cli("run", write_yaml(MAIL.format(path=mail, mode="tfidf")), "--out", tmp_path, "-q").exit_code == 0
    run_dir = next(tmp_path.glob("mail/*"))
    rows = tmp_path / "new.csv"
    rows.write_text('subject,body\nWIN CASH NOW,"Click here to receive your free $$$ prize, limited offer!!!"\n'
                    'Re: patch,"Thanks, I applied the patch to CVS and the tests pass."\n,\n')
    done = cli("predict", run_dir, rows)
    assert done.exit_code == 0, done.output
    lines = done.stdout.strip().splitlines()
    assert lines[1].startswith("2,spam,") and lines[2].startswith("3,ham,") and len(lines) == 4
    assert "are outside the vocabulary training fitted (not counted)" in done.stderr  # (CVS, patch: unseen words)
    # and mail it has never seen: 400 other messages of the corpus, as a plain CSV, scored by evaluate --data
    with gzip.open(CORPUS, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with gzip.open(mail, "rt", encoding="utf-8", newline="") as handle:
        seen = {(r["subject"], r["body"]) for r in csv.DictReader(handle)}
    unseen = [r for r in rows if (r["subject"], r["body"]) not in seen][:400]
    with open(tmp_path / "unseen.csv", "w", encoding="utf-8", newline="") as handle:
        out = csv.DictWriter(handle, fieldnames=["subject", "body", "label"])
        out.writeheader()
        out.writerows(unseen)
    evaluated = cli("evaluate", run_dir, "--data", tmp_path / "unseen.csv")
    assert evaluated.exit_code == 0, evaluated.output
    scored = json.loads(next((run_dir / "evaluations").glob("*/metrics.json")).read_text())
    assert scored["samples"] == 400 and scored["metrics"]["accuracy"] >= 0.9
    # predict encodes a table a chunk at a time (a tf-idf row is as wide as the vocabulary): the same answers
    whole = cli("predict", run_dir, tmp_path / "unseen.csv")
    from dlpipe.trained import predict

    monkeypatch.setattr(predict, "CHUNK_BYTES", 7 * 4 * 2000)  # a few rows a chunk
    chunked = cli("predict", run_dir, tmp_path / "unseen.csv")
    assert chunked.stdout == whole.stdout and len(chunked.stdout.splitlines()) == 401
    assert chunked.stderr.count("are outside the vocabulary") == 1 and chunked.stderr == whole.stderr


@pytest.mark.parametrize("extra, line, fragment", [
    ("", None, "column 'body' looks like free text (30 different values in 30 rows, median 3"),
    ("  text: {columns: [body], as: sequence}\n", None, "as: sequence gives the network token ids alone"),
    ("  text: {columns: [body], max_chars: 100}\n", 5, "text column 'body' holds a cell of 200 characters, over max_chars"),
    ("  text: {columns: [bodyy]}\n", None, "has no column 'bodyy'; did you mean 'body'?"),
    ("  text: {columns: [label]}\n", None, "text: 'label' is the target or the split column"),
])
def test_text_settings_the_table_cannot_satisfy_are_refused_at_their_line(cli, write_yaml, tmp_path, extra, line,
                                                                          fragment):
    bodies = [f"message number {i} with a few words" if i != 3 else "x" * 200 for i in range(30)]
    table = tmp_path / "t.csv"
    table.write_text("n,body,label\n" + "".join(f"{i},{body},{'ab'[i % 2]}\n" for i, body in enumerate(bodies)))
    pipeline = write_yaml(f"data:\n  type: csv\n  path: {table}\n  target: label\n{extra}"
                          "model: {layers: [{type: linear, units: 2}]}\n")
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.output, result.stderr
    if line:
        assert f"t.csv:{line}:" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_damaged_gzip_table_and_bytes_that_are_not_utf8_are_one_line_each(cli, write_yaml, tmp_path):
    whole = gzip.compress(b"a,body,label\n" + b"".join(b"%d,some text,%s\n" % (i, b"xy"[i % 2:i % 2 + 1])
                                                          for i in range(50)))
    (tmp_path / "cut.csv.gz").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "latin1.csv").write_bytes(b"a,body,label\n" + b"1,ok,x\n" * 5 + b"2,caf\xe9,y\n")
    for name, fragment in (("cut.csv.gz", "not a readable gzip file (Compressed file ended"), ("latin1.csv", "not UTF-8 text (line 7")):
        pipeline = write_yaml(f"data:\n  type: csv\n  path: {tmp_path / name}\n  target: label\n"
                              "  text: {columns: [body]}\nmodel: {layers: [{type: linear, units: 2}]}\n")
        result = cli("run", pipeline, "--out", tmp_path / "out")
        assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.output, result.stderr


def test_the_corpus_missing_or_changed_says_where_to_put_it_and_where_it_comes_from(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DLPIPE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spam = ROOT / "pipelines" / "spam.yaml"
    result = cli("run", spam, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "spamassassin-1.csv.gz is not on this machine" in result.stderr
    assert str(tmp_path / "data" / "spamassassin") in result.stderr and "Apache SpamAssassin" in result.stderr
    (tmp_path / "data" / "spamassassin").mkdir(parents=True)
    (tmp_path / "data" / "spamassassin" / "spamassassin-1.csv.gz").write_bytes(gzip.compress(b"subject,body,label\n"))
    result = cli("run", spam, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "does not match the published spamassassin-1.csv.gz" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


@needs_corpus
@pytest.mark.parametrize("name", ["spam", "spam_sequence"])
def test_the_spam_pipelines_reach_their_target_on_the_whole_corpus(cli, tmp_path, name):
    """pipelines/spam.yaml (tf-idf) and spam_sequence.yaml (embedding + conv1d) as shipped: at least 0.97 test
    accuracy (the majority class: 0.846)."""
    result = cli("run", ROOT / "pipelines" / f"{name}.yaml", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    record = json.loads(next(tmp_path.glob(f"{name}/*/metrics.json")).read_text())
    assert record["test"]["accuracy"] >= 0.97


def test_the_sequence_matrix_is_estimated_before_it_is_made_and_padding_is_said(cli, write_yaml, tmp_path,
                                                                                 monkeypatch):
    """length: 100000 on a 1.8 MB corpus took 5.4 GB to validate, 8.8 GB to run: nothing estimated the ids."""
    from dlpipe.data import memory

    rows = "".join(f"word{i % 7} other{i % 5} more,{'yes' if i % 2 else 'no'}\n" for i in range(200))
    (tmp_path / "short.csv").write_text("note,label\n" + rows)
    spec = ("name: padded\ndata: {type: table, path: short.csv, target: label, text: {columns: [note], "
            "as: sequence, length: LENGTH}}\nmodel: {layers: [{type: embedding, dim: 4}, {type: global_pool, "
            "mode: mean}, {type: linear, units: 2}]}\ntraining: {epochs: 1}\n")
    monkeypatch.setattr(memory, "limits", lambda: {"free memory": 100_000_000})
    refused = cli("validate", write_yaml(spec.replace("LENGTH", "100000")))
    assert refused.exit_code == 2 and "data.text.length: the 200 rows as 100,000 token ids each (text as: " \
        "sequence) needs about 0.3 GB of memory once loaded" in refused.stderr and "use a shorter text length" in \
        refused.stderr
    done = cli("run", write_yaml(spec.replace("LENGTH", "2000")), "--out", tmp_path / "out")
    assert done.exit_code == 0, done.output
    assert "note: text length 2,000: 95 % of the training rows hold at most 3 tokens, so most of every row is " \
           "padding" in done.output


def test_a_text_model_with_a_high_max_chars_predicts_and_evaluates_its_own_training_file(cli, write_yaml, tmp_path):
    rows = "".join(f"{'x' * 200_000 if i == 3 else f'word{i % 5} w'},{'ab'[i % 2]}\n" for i in range(60))
    (tmp_path / "long.csv").write_text("text,label\n" + rows)
    spec = write_yaml("name: long\ndata: {type: table, path: long.csv, target: label, text: {columns: [text], "
                      "max_chars: 1000000}}\nmodel: {layers: [{type: linear, units: 2}]}\ntraining: {epochs: 1}\n")
    assert cli("run", spec, "--out", tmp_path / "out", "-q").exit_code == 0
    run = next((tmp_path / "out").glob("long/*"))
    predicted = cli("predict", run, tmp_path / "long.csv")  # it said: a cell is at most 100,000
    assert predicted.exit_code == 0 and len(predicted.stdout.splitlines()) == 61, predicted.output
    assert cli("evaluate", run, "--data", tmp_path / "long.csv").exit_code == 0
