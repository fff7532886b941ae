"""`dlpipe serve` end to end over loopback: good and bad requests, 16 clients at once, the page in Chromium, a text
model's plain text, an image model's files, and SIGTERM. The answers are checked against the run's own model."""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import dlpipe
from dlpipe import InputNote
from dlpipe.trained.server import bind, create_app
from dlpipe.trained.service import Limits, Service, page

from browser import CHROMIUM, Browser
from conftest import ROOT, TOY_CLASSIFIER

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, whatever the proxy settings
IRIS = [{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2},
        {"sepal_length_cm": 6.7, "sepal_width_cm": "3.0", "petal_length_cm": 5.2, "petal_width_cm": 2.3},
        {"sepal_length_cm": 5.9, "sepal_width_cm": 2.8, "petal_length_cm": 4.4, "petal_width_cm": 1.3}]


def call(url: str, body: bytes | None = None, kind: str = "application/json") -> tuple[int, dict | str]:
    """(status, the JSON answer or the text) of a GET, or of a POST when there is a body."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": kind} if body is not None else {})
    try:
        with OPENER.open(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    return status, json.loads(text) if text.startswith(("{", "[")) else text


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve") / "out"
    run = dlpipe.run(ROOT / "pipelines/iris.yaml", set={"training.epochs": 30}, out=out, quiet=True)
    assert run.status == "completed"
    return run


@pytest.fixture(scope="module")
def server(iris):
    """`dlpipe serve` as a user starts it (port 0: any free one, read from its first line), with small limits."""
    process = subprocess.Popen([sys.executable, "-m", "dlpipe", "serve", str(iris.path), "--port", "0",
                                "--max-rows", "50", "--max-bytes", "20000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()  # waits for the server to listen
    found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
    assert found, line + process.stderr.read()
    yield process, found.group(1)
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_server_answers_as_the_model_and_says_what_it_takes(server, iris):
    _, url = server
    assert call(url + "health") == (200, {"status": "ok", "run": iris.record.ref})
    status, schema = call(url + "schema")
    assert status == 200 and schema["takes"] == "rows" and schema["classes"] == ["setosa", "versicolor", "virginica"]
    assert [c["name"] for c in schema["columns"]] == list(IRIS[0]) and {c["kind"] for c in schema["columns"]} == \
        {"numeric"}
    status, answer = call(url + "predict", json.dumps({"rows": IRIS}).encode())
    assert status == 200, answer
    model = iris.load()
    expected = model.predict_proba(IRIS)
    got = np.array([[p["probabilities"][c] for c in model.classes] for p in answer["predictions"]])
    assert np.allclose(got, expected, atol=1e-6)
    assert [p["prediction"] for p in answer["predictions"]] == list(model.predict(IRIS))
    assert [p["row"] for p in answer["predictions"]] == [1, 2, 3] and answer["notes"] == []
    status, text = call(url + "report")
    assert status == 200 and text == (iris.path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("body, kind, status, said", [
    (b'{"rows": [', "application/json", 400, "not valid JSON: Expecting value at line 1, column 11"),
    (b'[1, 2]', "application/json", 400, "a JSON list where an object was expected"),
    (json.dumps({"rows": [{k: v for k, v in IRIS[0].items() if k != "petal_width_cm"}]}).encode(),
     "application/json", 400, "no column 'petal_width_cm'"),
    (json.dumps({"rows": [IRIS[0], {**IRIS[0], "sepal_width_cm": "wide"}]}).encode(), "application/json", 400,
     "column 'sepal_width_cm': row 2 ('wide') is not a number"),
    (json.dumps({"rows": [IRIS[0], {**IRIS[0], "petal_length_cm": [1]}]}).encode(), "application/json", 400,
     "row 2: key 'petal_length_cm' holds a JSON list"),
    (b'{"rows": [{"sepal_length_cm": 1e400, "sepal_width_cm": 1, "petal_length_cm": 1, "petal_width_cm": 1}]}',
     "application/json", 400, "row 1: a number beyond the range of floating point"),
    (json.dumps({"rows": [IRIS[0]] * 51}).encode(), "application/json", 413, "51 rows in one request; this server "
                                                                             "takes at most 50 (dlpipe serve --max-rows)"),
    (b"{" + b" " * 20001 + b"}", "application/json", 413, "a body of 20,003 bytes; this server takes at most 20,000"),
    (b"a,b\n1,2\n", "text/csv", 415, "content type 'text/csv'"),
    (b"a long message", "text/plain", 415, "a plain-text body is for a model whose one input is a text column"),
], ids=["malformed", "not-an-object", "missing-column", "not-a-number", "nested", "overflow", "rows", "bytes",
        "csv", "plain-text"])
def test_a_bad_request_gets_its_reason_and_the_server_stays_up(server, body, kind, status, said):
    _, url = server
    got, answer = call(url + "predict", body, kind)
    assert (got, said in answer["error"]) == (status, True), answer
    assert "Traceback" not in answer["error"]
    assert call(url + "health")[0] == 200


def test_a_body_sent_in_chunks_is_cut_off_at_the_limit(server):
    """No Content-Length (chunked): the server counts as it reads and answers 413 past the limit."""
    _, url = server
    host, port = re.search(r"//([\d.]+):(\d+)/", url).groups()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(30):  # 30 chunks of 1,000 bytes: over the 20,000 allowed
            sock.sendall(b"3e8\r\n" + b" " * 1000 + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        said = json.loads(reply.read())
    assert reply.status == 413 and "a body of over 20,000 bytes" in said["error"]


def test_sixteen_clients_at_once_each_get_their_own_answer(server, iris):
    _, url = server
    model, start, answers = iris.load(), threading.Barrier(16), {}
    rows = [[{**IRIS[i % 3], "sepal_length_cm": 4.5 + 0.1 * i}] for i in range(16)]

    def client(i: int) -> None:
        start.wait()
        answers[i] = call(url + "predict", json.dumps({"rows": rows[i]}).encode())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(16):
        status, answer = answers[i]
        assert status == 200, answer
        expected = model.predict_proba(rows[i])[0]
        assert np.allclose([answer["predictions"][0]["probabilities"][c] for c in model.classes], expected, atol=1e-6)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's chromium)")
def test_the_page_takes_a_flower_and_shows_each_class_probability(server, iris, tmp_path):
    """In Chromium at 1280 and 420 px: the form is filled, submitted, and the answer read off the page."""
    _, url = server
    browser = Browser(tmp_path / "profile")
    try:
        for width in (1280, 420):
            browser.open(url, width)
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
            card = browser.evaluate("document.querySelector('header').innerText")
            assert iris.record.ref in card and "accuracy" in card and "classification" in card
            fields = browser.evaluate("[...document.querySelectorAll('[data-column]')].map(e => e.dataset.column)")
            assert fields == list(IRIS[0])
            browser.evaluate("(() => { const v = [6.7, 3.0, 5.2, 2.3]; document.querySelectorAll('[data-column]')"
                             ".forEach((e, i) => e.value = v[i]); })()")
            shown = browser.evaluate(
                "new Promise(done => { document.getElementById('try').requestSubmit(); const a = "
                "document.getElementById('answer'); const t = setInterval(() => { if (a.querySelector('.value, "
                ".message')) { clearInterval(t); done({value: a.querySelector('.value').innerText, bars: [...a."
                "querySelectorAll('.bar')].map(b => b.innerText.replace(/\\s+/g, ' '))}); } }, 20); })")
            model = iris.load()
            row = {"sepal_length_cm": 6.7, "sepal_width_cm": 3.0, "petal_length_cm": 5.2, "petal_width_cm": 2.3}
            probabilities = dict(zip(model.classes, model.predict_proba([row])[0]))
            assert shown["value"] == model.predict([row])[0]
            assert len(shown["bars"]) == 3 and shown["bars"][0].startswith(shown["value"])
            for bar in shown["bars"]:
                name, percent = re.match(r"(\w+) ([\d.]+) %", bar).groups()
                assert float(percent) == pytest.approx(100 * probabilities[name], abs=0.051)
            assert browser.evaluate("document.documentElement.scrollWidth") <= width
            if os.environ.get("DLPIPE_SHOTS"):
                browser.screenshot(Path(os.environ["DLPIPE_SHOTS"]) / f"serve-{width}.png")
        assert browser.console == []
    finally:
        browser.close()


def threaded(service: Service) -> str:
    """The app served in this process by a uvicorn thread (its socket listens before the thread starts)."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(service, page(service)), log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_a_text_model_takes_a_message_as_plain_text(tmp_path):
    lines = ["label,message"] + [f"{'spam' if i % 2 else 'ham'},{'win cash prize now' if i % 2 else 'lunch at noon'}"
                                 f" {i}" for i in range(80)]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "m.yaml").write_text(
        "name: msgs\nseed: 1\ndata: {type: table, path: m.csv, target: label, text: {columns: [message]}}\n"
        "model: {layers: [{type: linear, units: 2}]}\noptimizer: {type: adam, lr: 5.0e-2}\n"
        "training: {epochs: 8, batch_size: 16}\n")
    run = dlpipe.run(tmp_path / "m.yaml", out=tmp_path / "out", quiet=True)
    url = threaded(Service(run.path))
    status, answer = call(url + "predict", "claim your cash prize".encode(), "text/plain; charset=utf-8")
    model = run.load()
    assert status == 200, answer
    with pytest.warns(InputNote, match="2 of 4 tokens"):
        expected = model.predict({"message": ["claim your cash prize"]})[0]
    assert answer["predictions"][0]["prediction"] == expected == "spam"
    assert "of 4 tokens" in " ".join(answer["notes"])  # 'claim', 'your' are outside the vocabulary: said


def test_an_image_model_takes_image_files(tmp_path, toy_mnist):
    from PIL import Image

    from dlpipe.trained.inputs import decode

    (tmp_path / "toy.yaml").write_text(TOY_CLASSIFIER.format(root=toy_mnist[0]))
    run = dlpipe.run(tmp_path / "toy.yaml", set={"training.epochs": 2}, out=tmp_path / "out", quiet=True)
    rng, files, parts = np.random.default_rng(0), [], []
    for i in range(3):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(buffer, format="PNG")
        files.append(tmp_path / f"digit{i}.png")
        files[-1].write_bytes(buffer.getvalue())
        parts.append(b"--XyZ\r\nContent-Disposition: form-data; name=\"images\"; filename=\"digit%d.png\"\r\n"
                     b"Content-Type: image/png\r\n\r\n" % i + buffer.getvalue() + b"\r\n")
    url = threaded(Service(run.path, Limits(max_rows=2)))
    body = b"".join(parts) + b"--XyZ--\r\n"
    assert call(url + "predict", body, "multipart/form-data; boundary=XyZ")[0] == 413  # 3 images, 2 allowed
    url = threaded(Service(run.path))
    status, answer = call(url + "predict", body, "multipart/form-data; boundary=XyZ")
    assert status == 200, answer
    model = run.load()
    assert [p["file"] for p in answer["predictions"]] == ["digit0.png", "digit1.png", "digit2.png"]
    expected = model.predict_proba(decode(files))
    got = np.array([[p["probabilities"][c] for c in model.classes] for p in answer["predictions"]])
    assert np.allclose(got, expected, atol=1e-6)
    bad = b"--XyZ\r\nContent-Disposition: form-data; name=\"images\"; filename=\"x.png\"\r\n\r\nnot a png\r\n--XyZ--\r\n"
    status, answer = call(url + "predict", bad, "multipart/form-data; boundary=XyZ")
    assert status == 400 and "'x.png': cannot be read as an image" in answer["error"]


def test_listening_beyond_this_machine_is_warned_and_a_busy_port_refused(iris, cli):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        done = cli("serve", iris.path, "--host", "0.0.0.0", "--port", taken.getsockname()[1])
    assert done.exit_code == 2
    assert "reachable from the network" in done.stderr and "another program holds the port" in done.stderr


def test_the_guides_request_gets_the_guides_answer(server):
    """docs/guide/serving.md: its JSON request, sent to a served iris run, gets its answer's classes and shape."""
    _, url = server
    guide = (ROOT / "docs/guide/serving.md").read_text()
    request, answer = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", guide, re.S)][:2]
    status, got = call(url + "predict", json.dumps(request).encode())
    assert status == 200
    assert [(p["row"], p["prediction"], sorted(p["probabilities"])) for p in got["predictions"]] == \
        [(p["row"], p["prediction"], sorted(p["probabilities"])) for p in answer["predictions"]]
    assert all(abs(got["predictions"][i]["probabilities"][p["prediction"]] - p["probabilities"][p["prediction"]]) < 0.05
               for i, p in enumerate(answer["predictions"]))


def test_a_series_model_forecasts_from_the_last_steps_as_predict_does(tmp_path, cli):
    values = np.round(np.sin(np.arange(160) / 5.0) * 3 + 20, 3)
    (tmp_path / "s.csv").write_text("month,temp\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    (tmp_path / "s.yaml").write_text(
        "name: temps\nseed: 2\ndata: {type: series, path: s.csv, column: temp, time: month, window: 6}\n"
        "model: {layers: [{type: flatten}, {type: linear, units: 8, activation: tanh}, {type: linear, units: 1}]}\n"
        "training: {epochs: 5, batch_size: 16}\n")
    run = dlpipe.run(tmp_path / "s.yaml", out=tmp_path / "out", quiet=True)
    rows = [{"month": i, "temp": float(values[i])} for i in range(150, 160)]
    answer = Service(run.path).predict_json(json.dumps({"rows": rows}).encode())
    (tmp_path / "last.csv").write_text("month,temp\n" + "".join(f"{r['month']},{r['temp']}\n" for r in rows))
    done = cli("predict", run.path, tmp_path / "last.csv", "-o", tmp_path / "p.json")
    assert done.exit_code == 0, done.output
    expected = json.loads((tmp_path / "p.json").read_text())
    assert [(p["after"], p["steps_ahead"]) for p in answer["predictions"]] == \
        [(e["after"], e["steps_ahead"]) for e in expected] == [(i, 1) for i in range(155, 160)]
    assert np.allclose([p["prediction"] for p in answer["predictions"]], [e["temp"] for e in expected], atol=1e-6)
    short = Service(run.path)
    with pytest.raises(Exception, match="forecasts from the last 6 values"):
        short.predict_json(json.dumps({"rows": rows[:3]}).encode())


def test_sigterm_stops_the_server_cleanly(server):
    """Last in this file: the server the other tests used stops at SIGTERM, exit 0, one line."""
    process, url = server
    assert call(url + "health")[0] == 200
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)  # GRACE_S for the requests in flight, then out
    assert process.returncode == 0
    said = process.stderr.read()
    assert "SIGTERM: stopped serving" in said and "Traceback" not in said
