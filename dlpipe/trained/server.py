"""`dlpipe serve`: a trained run over HTTP, on FastAPI and uvicorn (the `serve` extra, imported here alone).

FastAPI routes; everything a request means is Service's (dlpipe/trained/service.py), so the server adds only
the body's size limit, the content types, and the threads: predictions run in the thread pool, never on the
event loop, so /health answers while a large request is computed. A first Ctrl-C or SIGTERM stops accepting,
finishes the requests in flight (at most GRACE_S), and exits 0; a second one exits at once.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (Request) as objects.
import os
import signal
import socket
import time
from typing import Callable

from dlpipe.trained.service import RequestError, Service

GRACE_S = 3  # seconds the requests in flight get to finish after a stop
EXTRA = "dlpipe serve needs FastAPI and uvicorn: pip install 'dlpipe[serve]'"


def modules():
    """(fastapi, uvicorn), or ImportError naming the extra."""
    try:
        import fastapi
        import uvicorn
    except ImportError as exc:
        raise ImportError(f"{EXTRA} ({exc})") from None
    return fastapi, uvicorn


def create_app(service: Service, page: str, say: Callable[[str], None] | None = None):
    """The FastAPI application: GET / (the page), /health, /schema, /report; POST /predict."""
    fastapi, _ = modules()
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    app = fastapi.FastAPI(title=f"dlpipe: {service.record.ref}", docs_url=None, redoc_url=None, openapi_url=None)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "run": service.record.ref}

    @app.get("/schema")
    def schema() -> dict:
        return service.schema()

    @app.get("/report")
    def report() -> Response:
        path = service.model.path / "report.html"
        if not path.is_file():
            return error(404, f"{service.record.ref} has no report.html")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @app.post("/predict")
    async def predict(request: fastapi.Request) -> Response:
        started = time.perf_counter()
        try:
            body = await _body(request, service.limits.max_bytes)
            kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
            if kind == "multipart/form-data":
                files = await _files(request, service.limits.max_rows)
                answer = await run_in_threadpool(service.predict_images, files)
            elif kind == "text/plain":
                answer = await run_in_threadpool(service.predict_text, _text(body))
            elif kind in ("application/json", "") or (kind == "application/x-www-form-urlencoded" and
                                                       body.lstrip().startswith(b"{")):  # (curl -d's default type)
                answer = await run_in_threadpool(service.predict_json, body)
            else:
                raise RequestError(415, f"content type {kind!r}; send application/json ({{\"rows\": [...]}}), "
                                        "text/plain (a text model's message) or multipart/form-data (images)")
        except RequestError as exc:
            _said(say, request, exc.status, started)
            return error(exc.status, exc.message)
        except Exception as exc:  # noqa: BLE001 - one line to the client and the terminal, the server stays up
            _said(say, request, 500, started, f"{type(exc).__name__}: {exc}")
            return error(500, f"dlpipe could not answer this request ({type(exc).__name__}); the server's terminal "
                              "says more")
        _said(say, request, 200, started)
        return JSONResponse(answer)

    return app


async def _body(request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is over `limit` bytes (by its Content-Length, or as it arrives)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"a body of {int(declared):,} bytes; this server takes at most {limit:,} "
                                "(dlpipe serve --max-bytes): send the rows in parts")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"a body of over {limit:,} bytes; this server takes at most {limit:,} "
                                    "(dlpipe serve --max-bytes): send the rows in parts")
        chunks.append(chunk)
    request._body = b"".join(chunks)  # (Starlette's own cache: form() then parses these bytes, not the stream)
    return request._body


async def _files(request, limit: int) -> list[tuple[str, bytes]]:
    """The uploaded files of a multipart body, in order, as (name, bytes)."""
    try:
        form = await request.form(max_files=limit + 1, max_fields=limit + 1)  # (one more: Service says it is too many)
    except Exception as exc:  # noqa: BLE001 - Starlette's parser says what is wrong with the form
        why = str(getattr(exc, "detail", exc))
        raise RequestError(413 if why.startswith("Too many") else 400,
                           f"more than {limit:,} files in one request; this server takes at most {limit:,} "
                           "(dlpipe serve --max-rows)" if why.startswith("Too many") else
                           f"not a multipart form dlpipe can read ({why})") from None
    files = [value for _, value in form.multi_items() if hasattr(value, "read")]
    return [(value.filename or f"file {i + 1}", await value.read()) for i, value in enumerate(files)]


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8 text") from None


def _said(say, request, status: int, started: float, why: str = "") -> None:
    if say is not None:
        ms = (time.perf_counter() - started) * 1000
        say(f"{request.method} {request.url.path} {status} {ms:.1f} ms{': ' + why if why else ''}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port); OSError in words for a port in use or a host not here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}" +
                      ("; another program holds the port (choose one with --port, or --port 0 for any free one)"
                       if exc.errno == 98 else "")) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app, sock: socket.socket, threads: int) -> str:
    """Serve until a signal; the name of the signal that stopped it."""
    _, uvicorn = modules()
    import torch

    torch.set_num_threads(threads)

    class Server(uvicorn.Server):
        stopped_by = ""

        def handle_exit(self, sig: int, frame) -> None:  # no re-raise after the shutdown: the command exits 0
            if self.should_exit:
                os._exit(130)
            self.stopped_by = signal.Signals(sig).name
            self.should_exit = True

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=GRACE_S,
                            lifespan="off")
    server = Server(config)
    server.run(sockets=[sock])
    return server.stopped_by or "stop"


def threads_for_serving() -> int:
    """Torch's intra-op threads: the cores this process may use (requests run side by side in the thread pool)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

