"""`dlpipe serve RUN`: the run's model over HTTP (dlpipe/trained/server.py), with a page to try it."""

from __future__ import annotations

from pathlib import Path

import click

from dlpipe.cli.common import complete_runs, echo
from dlpipe.cli.common import fail as _fail
from dlpipe.cli.use import ANY_STATUS, OUT, _model

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command()
@click.argument("run", shell_complete=complete_runs)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 makes the model reachable from the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, printed).")
@click.option("--max-bytes", type=click.IntRange(1), default=None, metavar="N",
              help="Largest request body in bytes  [default: 10 MB]")
@click.option("--max-rows", type=click.IntRange(1), default=None, metavar="N",
              help="Most rows (or images) in one request  [default: 10,000]")
@click.option("--quiet", "-q", is_flag=True, help="No line per request.")
@ANY_STATUS
@OUT
def serve(run: str, host: str, port: int, max_bytes: int | None, max_rows: int | None, quiet: bool,
          any_status: bool, out: Path) -> None:
    """Serve RUN's model over HTTP: GET / (a page to try it), /schema, /health; POST /predict."""
    try:
        from dlpipe.trained.server import bind, create_app, serve as run_server, threads_for_serving
    except ImportError as exc:
        _fail(str(exc))
    from dlpipe.trained.errors import LoadError
    from dlpipe.trained.service import MAX_BYTES, MAX_ROWS, Limits, Service, page

    model = _model(run, out, any_status)  # (the refusals of predict: no such run, not completed)
    try:
        service = Service(model.path, Limits(max_bytes or MAX_BYTES, max_rows or MAX_ROWS), any_status)
        app = create_app(service, page(service), None if quiet else lambda line: echo(line, err=True))
    except (LoadError, ValueError) as exc:
        _fail(f"dlpipe serve {run}: {exc}")
    if host not in LOOPBACK:
        echo(f"warning: listening on {host}: the model and its page are reachable from the network, by anyone who "
             "can reach this machine (there is no authentication); use --host 127.0.0.1 to keep it local", err=True)
    try:
        sock = bind(host, port)
    except OSError as exc:
        _fail(f"dlpipe serve: {exc}")
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    echo(f"serving {service.record.ref} on http://{shown}:{bound_port}/ (Ctrl-C to stop)", err=True)
    stopped_by = run_server(app, sock, threads_for_serving())
    echo(f"{stopped_by}: stopped serving {service.record.ref}", err=True)
