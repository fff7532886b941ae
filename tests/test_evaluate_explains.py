"""`dlpipe evaluate` explains a drop: the run's own test beside the new data's, per-class figures, the baselines on
the new data, what shifted (class shares, unseen categories, unknown words, moved columns) and the worst mistakes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    import dlpipe

    out = tmp_path_factory.mktemp("iris")
    return dlpipe.run(ROOT / "pipelines" / "iris.yaml", out=out, quiet=True).path


def test_a_shifted_class_balance_is_said_with_the_drop_per_class_and_the_baselines(cli, tmp_path, iris_run):
    rows = (ROOT / "pipelines" / "data" / "iris.csv").read_text().splitlines()
    shifted = tmp_path / "virginica_heavy.csv"  # every virginica row, five of the others
    shifted.write_text("\n".join([rows[0], *[r for r in rows[1:] if r.endswith("virginica")], *rows[1:6]]) + "\n")
    done = cli("evaluate", iris_run, "--data", shifted)
    assert done.exit_code == 0, done.output
    saved = json.loads(next(iris_run.glob("evaluations/*/metrics.json")).read_text())
    own = json.loads((iris_run / "metrics.json").read_text())["test"]
    accuracy = next(row for row in saved["compared"] if row["metric"] == "accuracy")
    assert accuracy["run"] == own["accuracy"] and accuracy["change"] == pytest.approx(accuracy["here"] - own["accuracy"])
    shares = {row["name"]: row for row in saved["shift"]["classes"]}
    assert shares["virginica"]["here"] == pytest.approx(50 / 55) and 0.2 < shares["virginica"]["training"] < 0.45
    assert "class 'virginica': 90.9% of these samples" in done.output and "(the class balance changed)" in done.output
    per_class = {row["name"]: row for row in saved["per_class"]}
    assert per_class["virginica"]["support"] == 50 and per_class["setosa"]["support"] == 5
    assert set(saved["baselines"]) == {"majority", "logistic", "trees"}
    assert saved["baselines"]["majority"]["accuracy"] == pytest.approx(sum(  # the training majority, on this data
        row.endswith(max(shares, key=lambda n: shares[n]["training"])) for row in rows[1:] if row in
        shifted.read_text().splitlines()) / 55)
    for mistake in saved["mistakes"]:  # named at their line of the file
        assert mistake["where"].startswith(f"{shifted}:") and mistake["true"] != mistake["predicted"]
    page = next(iris_run.glob("evaluations/*/report.html")).read_text()
    assert "The run's baselines on this data" in page and "<h2>Per class</h2>" in page and "the run's test</th>" in page


def test_unseen_categories_unknown_words_and_a_moved_column_are_measured(cli, tmp_path):
    rng = np.random.default_rng(0)
    words = ["cheap", "offer", "meeting", "lunch", "report", "prize", "win", "notes"]

    def table(path, n, colours, vocabulary, shift=0.0):
        lines = ["size,colour,note,label"]
        for i in range(n):
            label = "yes" if i % 2 else "no"
            note = " ".join(rng.choice(vocabulary[:4] if label == "yes" else vocabulary[4:], 3))
            lines.append(f"{rng.normal(shift):.3f},{colours[i % len(colours)]},{note},{label}")
        path.write_text("\n".join(lines) + "\n")
        return path

    train = table(tmp_path / "t.csv", 300, ["red", "green"], words)
    spec = tmp_path / "t.yaml"
    spec.write_text(f"""\
name: shifted
seed: 0
data: {{type: table, path: {train.name}, target: label, categorical: [colour], text: {{columns: [note], as: bag}}}}
model: {{layers: [{{type: linear, units: 8, activation: relu}}, {{type: linear, units: 2}}]}}
loss: cross_entropy
optimizer: {{type: adam, lr: 1.0e-2}}
training: {{epochs: 10, batch_size: 16}}
metrics: [accuracy]
""")
    assert cli("run", spec, "--out", tmp_path / "out", "-q").exit_code == 0
    run = next((tmp_path / "out" / "shifted").iterdir())
    later = table(tmp_path / "later.csv", 100, ["blue"], [w.upper() + "s" for w in words], shift=3.0)
    done = cli("evaluate", run, "--data", later)
    assert done.exit_code == 0, done.output
    shift = json.loads(next(run.glob("evaluations/*/metrics.json")).read_text())["shift"]
    assert shift["unseen"] == {"colour": 1.0} and shift["unknown_tokens"]["here"] == 1.0
    assert shift["moved"][0]["column"] == "size" and 2.5 < shift["moved"][0]["sd"] < 3.5
    assert "colour: 100.0% of rows hold a category training never saw" in done.output
    assert "100.0% of the tokens are outside the vocabulary" in done.output
    mistakes = json.loads(next(run.glob("evaluations/*/metrics.json")).read_text())["mistakes"]
    assert mistakes and all(m["shown"].isupper() or " " in m["shown"] for m in mistakes)  # the messages, shown
