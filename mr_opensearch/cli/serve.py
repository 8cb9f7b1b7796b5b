"""``mros serve``: the HTTP search service over the index behind an alias (:mod:`mr_opensearch.service`)."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._cluster import ClusterArgs
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._options import (
    DEFAULT_PORT,
    DEFAULT_RETRY_BUDGET,
    DEFAULT_TIMEOUT,
    CaCertsOpt,
    InsecureOpt,
    PasswordPromptOpt,
    RetryBudgetOpt,
    TimeoutOpt,
    UrlOpt,
    UserOpt,
)
from mr_opensearch.cli._output import emit_json, info, state
from mr_opensearch.core.errors import MrosError


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve)


@handle_errors
def serve(
    alias: str = typer.Option(..., "--alias", help="The alias of a deployed index (`mros deploy`)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on (0: any free port, "
                             "printed). The cluster is given with --url (or $MROS_OPENSEARCH_URL)."),
    judgments: Path | None = typer.Option(None, "--judgments", help="Judged queries: the page shows each hit's "
                                          "judged grade and each column's nDCG@10."),
    max_concurrency: int = typer.Option(32, "--max-concurrency", min=1, max=1024, help="Searches answered at once; "
                                        "more are answered 503 with Retry-After."),
    resolve_every: float = typer.Option(1.0, "--resolve-every", min=0.0, max=60.0, help="Seconds a resolution of "
                                        "the alias is reused (0: on every search)."),
    model: Path | None = typer.Option(None, "--model", help="Client mode: a served model folder to embed queries "
                                      "with (checked against the index's model)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (method, path, status)."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Serve search over HTTP: GET /search?q=&mode=&k=&min_grade=, /healthz, /readyz, /metrics (Prometheus) and
    the relevance page at /. Each query is embedded by the model of the index that answers it. SIGTERM or
    Ctrl-C stops accepting connections, lets the requests in flight finish, and exits 0."""
    from mr_opensearch.cluster.connection import connect, redact_url
    from mr_opensearch.search.judgments import read_judgments
    from mr_opensearch.search.searcher import Searcher
    from mr_opensearch.service.app import create_app
    from mr_opensearch.service.server import bind
    from mr_opensearch.service.server import serve as run_server

    graded = read_judgments(judgments).graded if judgments is not None else None
    sock = bind(host, port)  # a port in use is refused before the cluster is asked anything
    try:
        config = ClusterArgs(url, user, ca_certs, insecure, DEFAULT_PORT, timeout, password_prompt,
                             retry_budget).config()
        client = connect(config, on_retry=lambda line: info(f"retry: {line}"))
        searcher = Searcher(client, alias, resolve_every=resolve_every, model=model)
        try:
            live = searcher.ready()
            where = f"index {live.index}, {live.manifest.embedding} embedding, model {live.manifest.model_sha256[:12]}"
        except MrosError as exc:  # served anyway: /readyz answers 503 with the reason until the alias resolves
            where = f"not ready yet: {exc.message}"
        bound_host, bound_port = sock.getsockname()[:2]
        listening = f"http://{bound_host if ':' not in bound_host else f'[{bound_host}]'}:{bound_port}"
        if state.json:
            emit_json({"listening": listening, "alias": alias, "cluster": redact_url(str(config.url))})
        info(f"mros serve: alias {alias} on {redact_url(str(config.url))} ({where})")
        info(f"mros serve: listening on {listening} (Ctrl-C or SIGTERM stops it)")
        app = create_app(searcher, judgments=graded, max_concurrency=max_concurrency)
        run_server(app, sock, access_log=access_log)
    finally:
        sock.close()
    info("mros serve: stopped")
