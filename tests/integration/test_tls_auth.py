"""TLS and basic auth through a real nginx proxy in front of the node (``tls_proxy`` in ``conftest.py``),
with the real CLI in a subprocess:

* certificates are verified by default: without ``--ca-certs`` the test CA is refused;
* a wrong CA, an expired certificate, a wrong or missing password, no credentials, plain HTTP to the
  HTTPS port, HTTPS to the plain port and a URL with credentials in it each exit non-zero with a message
  that says what to change;
* with the CA and the credentials (``MROS_OPENSEARCH_PASSWORD`` or ``--password-prompt`` on stdin),
  deploy (client mode), search in every mode, eval and status work through the proxy (and ``--insecure``
  without the CA);
* the password (and its Basic-auth base64 form) is in none of: stdout, stderr (``--debug`` tracebacks
  included), the run directory (``RUN/deploy/`` manifest copy, ``mros run``'s ``run-config.yaml``),
  ``$MROS_HOME``, the test's tmp dirs, the index ``_meta`` manifests on the node.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIAS = "mros-test-tls"


@dataclass
class Cli:
    """Runs ``python -m mr_opensearch`` with this checkout's PYTHONPATH and records every output."""

    home: Path
    outputs: list[tuple[str, subprocess.CompletedProcess]] = field(default_factory=list)

    def __call__(self, *args: str, password: str | None = None, stdin: str | None = None,
                 label: str | None = None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("MROS_OPENSEARCH_PASSWORD", "MROS_OPENSEARCH_URL")}
        env.update(MROS_HOME=str(self.home), MROS_NO_PROGRESS="1")
        if password is not None:
            env["MROS_OPENSEARCH_PASSWORD"] = password
        # a new session has no controlling terminal, so a password prompt reads stdin
        done = subprocess.run([sys.executable, "-m", "mr_opensearch", *args], env=env, input=stdin or "",
                              capture_output=True, text=True, timeout=300, start_new_session=True)
        self.outputs.append((label or " ".join(args[:2]), done))
        return done


def _cluster_args(proxy: Any, **overrides: str | None) -> list[str]:
    values = {"--url": proxy.https_url, "--ca-certs": str(proxy.ca_cert), "--user": proxy.user, **overrides}
    return [arg for key, value in values.items() if value is not None for arg in (key, value)]


def _a_query(judgments: Path) -> str:
    from mr_opensearch.search.judgments import read_judgments

    return read_judgments(judgments).queries[0]


@dataclass
class ThroughProxy:
    cli: Cli
    run_dir: Path
    tmp: Path
    deploy: dict
    dry_run: subprocess.CompletedProcess
    searches: dict[str, dict]
    eval: dict
    prompted: dict
    status: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def through_proxy(tls_proxy: Any, opensearch_client: Any, serving_runs: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> ThroughProxy:
    """Deploy (dry run, then for real), search in every mode, eval, a prompted password and status, all
    through the TLS proxy with the right CA and credentials."""
    tmp = tmp_path_factory.mktemp("tls-cli")
    cli = Cli(home=tmp / "mros-home")
    run_dir = tmp / "run"
    shutil.copytree(serving_runs.runs[0], run_dir, ignore=shutil.ignore_patterns("deploy"))
    for name in list(opensearch_client.indices.get(index=f"{ALIAS}-*")):
        opensearch_client.indices.delete(index=name)
    pw = tls_proxy.password
    deploy_args = ["deploy", "--run", str(run_dir), "--catalog", str(serving_runs.catalog), "--alias", ALIAS,
                   "--embedding", "client", *_cluster_args(tls_proxy)]
    dry = cli(*deploy_args, "--dry-run", password=pw, label="deploy --dry-run")
    assert dry.returncode == 0, dry.stderr
    done = cli(*deploy_args, "--json", password=pw, label="deploy")
    assert done.returncode == 0, done.stderr
    query = _a_query(serving_runs.judgments)
    searches = {}
    for mode in ("bm25", "dense", "hybrid"):
        out = cli("search", query, "--alias", ALIAS, "--mode", mode, "--k", "5", "--json", *_cluster_args(tls_proxy),
                  password=pw, label=f"search {mode}")
        assert out.returncode == 0, out.stderr
        searches[mode] = json.loads(out.stdout)
    ev = cli("eval", "--alias", ALIAS, "--judgments", str(serving_runs.judgments), "--max-queries", "5",
             "--clients", "1,2", "--json", *_cluster_args(tls_proxy), password=pw, label="eval")
    assert ev.returncode == 0, ev.stderr
    prompted = cli("search", query, "--alias", ALIAS, "--mode", "dense", "--k", "3", "--json", "--password-prompt",
                   *_cluster_args(tls_proxy), stdin=pw + "\n", label="search --password-prompt")
    assert prompted.returncode == 0, prompted.stderr
    status = cli("status", "--alias", ALIAS, *_cluster_args(tls_proxy), password=pw, label="status")
    assert status.returncode == 0, status.stderr
    return ThroughProxy(cli=cli, run_dir=run_dir, tmp=tmp, deploy=json.loads(done.stdout), dry_run=dry,
                        searches=searches, eval=json.loads(ev.stdout)["eval"], prompted=json.loads(prompted.stdout),
                        status=status)


def test_deploy_search_eval_work_through_tls_and_basic_auth(through_proxy: ThroughProxy, tls_proxy: Any,
                                                            opensearch_client: Any):
    deployed = through_proxy.deploy
    assert deployed["embedding"] == "client" and deployed["documents"] > 0 and deployed["written"] == deployed["documents"]
    assert opensearch_client.count(index=ALIAS)["count"] == deployed["documents"]
    assert "nothing was written" in through_proxy.dry_run.stdout
    for mode, out in through_proxy.searches.items():
        assert out["mode"] == mode and 0 < len(out["hits"]) <= 5
    assert set(through_proxy.eval["modes"]) == {"bm25", "dense", "hybrid"} and through_proxy.eval["queries"] == 5
    for block in through_proxy.eval["modes"].values():
        assert block["quality"]["ndcg@10"] is not None and set(block["qps"]) == {"1", "2"}
    assert through_proxy.prompted["hits"], "the search with a prompted password found nothing"
    assert deployed["index"] in through_proxy.status.stdout
    # --insecure turns verification off: the same proxy without --ca-certs then answers
    insecure = through_proxy.cli("status", "--alias", ALIAS, "--insecure",
                                 *_cluster_args(tls_proxy, **{"--ca-certs": None}), password=tls_proxy.password,
                                 label="status --insecure")
    assert insecure.returncode == 0 and deployed["index"] in insecure.stdout, insecure.stderr
    # every request went through nginx as the authenticated user
    access = (tls_proxy.root / "access.log").read_text()
    assert f" {tls_proxy.user} " in access and "/_bulk" in access and "/_search" in access


def _error_cases(proxy: Any, node_url: str, other_ca: Path) -> dict[str, tuple[list[str], str | None, list[str]]]:
    """name -> (cluster args, password, phrases the error must contain)."""
    pw = proxy.password
    plain_port = node_url.rsplit(":", 1)[1]
    return {
        "no --ca-certs (verification on by default)": (_cluster_args(proxy, **{"--ca-certs": None}), pw,
                                                       ["certificate verify failed", "--ca-certs"]),
        "wrong CA": (_cluster_args(proxy, **{"--ca-certs": str(other_ca)}), pw,
                     ["certificate verify failed", "not signed by the CA", str(other_ca)]),
        "expired certificate": (_cluster_args(proxy, **{"--url": proxy.expired_url}), pw, ["has expired"]),
        "wrong password": (_cluster_args(proxy), pw + "-wrong", ["refused the credentials", proxy.user]),
        "missing password": (_cluster_args(proxy), None, ["no password", "MROS_OPENSEARCH_PASSWORD"]),
        "no credentials": (_cluster_args(proxy, **{"--user": None}), None, ["requires authentication", "--user"]),
        "plain http to the https port": (_cluster_args(proxy, **{"--url": proxy.https_url.replace("https://", "http://")}),
                                         pw, ["HTTPS port", f"use {proxy.https_url}"]),
        "https to the plain port": (_cluster_args(proxy, **{"--url": f"https://127.0.0.1:{plain_port}"}), pw,
                                    ["does not speak TLS", f"use http://127.0.0.1:{plain_port}"]),
    }


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tls_proxy import make_ca

    return make_ca(tmp_path_factory.mktemp("other-ca"), name="some other CA").cert_path


@pytest.mark.parametrize("case", ["no --ca-certs (verification on by default)", "wrong CA", "expired certificate",
                                  "wrong password", "missing password", "no credentials",
                                  "plain http to the https port", "https to the plain port"])
def test_each_tls_or_auth_mistake_is_a_clear_error(case: str, tls_proxy: Any, opensearch_url: str, other_ca: Path,
                                                   through_proxy: ThroughProxy):
    args, password, phrases = _error_cases(tls_proxy, opensearch_url, other_ca)[case]
    done = through_proxy.cli("status", "--alias", ALIAS, *args, password=password, label=f"error: {case}")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("Error: ") and "hint: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, (phrase, done.stderr)


def test_url_with_credentials_is_refused_without_echoing_them(tls_proxy: Any, through_proxy: ThroughProxy):
    pw = tls_proxy.password
    url = tls_proxy.https_url.replace("https://", f"https://{tls_proxy.user}:{pw}@")
    for command in (["search", "a drill", "--alias", ALIAS], ["status", "--alias", ALIAS],
                    ["opensearch", "status"]):
        done = through_proxy.cli("--debug", *command, "--url", url, label=f"url with credentials: {command[0]}")
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "has credentials in it" in done.stderr and "MROS_OPENSEARCH_PASSWORD" in done.stderr
        assert f"https://***@{tls_proxy.https_url.removeprefix('https://')}" in done.stderr
        assert pw not in done.stdout + done.stderr


def _node_log_files(opensearch_url: str) -> list[Path]:
    """The test node's log files when it is a node of `mros opensearch up` on this machine."""
    from mr_opensearch.cluster.node import lifecycle, state

    node = lifecycle.running_state(state.node_dir(int(opensearch_url.rsplit(":", 1)[1])))
    if node is None or not node.log_file:
        return []
    return [p for p in Path(node.log_file).parent.glob("*.log") if p.is_file()]


def test_the_password_leaks_nowhere(through_proxy: ThroughProxy, tls_proxy: Any, opensearch_client: Any,
                                    opensearch_url: str, serving_runs: Any, other_ca: Path):
    cli, pw = through_proxy.cli, tls_proxy.password
    # a failing command with --debug (traceback of a cluster error after connecting)
    failing = cli("--debug", "search", "a drill", "--alias", "mros-no-such-alias", *_cluster_args(tls_proxy),
                  password=pw, label="--debug failing search")
    assert failing.returncode == 1 and "Traceback (most recent call last)" in failing.stderr
    # --debug on a TLS failure and on refused credentials
    for label, args, password in (("--debug wrong CA", _cluster_args(tls_proxy, **{"--ca-certs": str(other_ca)}), pw),
                                  ("--debug wrong password", _cluster_args(tls_proxy), pw + "x")):
        done = cli("--debug", "status", "--alias", ALIAS, *args, password=password, label=label)
        assert done.returncode == 1 and "Traceback" in done.stderr
    # `mros run`: it stops at its first step, the cluster check (wrong CA); once more with the
    # password in the config's URL, which is refused
    run_out = through_proxy.tmp / "mros-run"
    done = cli("--debug", "run", "--out", str(run_out), "--no-labeler", "--data", str(serving_runs.data),
               "--url", tls_proxy.https_url, "--user", tls_proxy.user, "--ca-certs", str(other_ca), password=pw,
               label="mros run (wrong CA)")
    assert done.returncode == 1 and "certificate verify failed" in done.stderr, done.stderr
    config = through_proxy.tmp / "run-config-with-secret.yaml"
    secret_url = tls_proxy.https_url.replace("https://", f"https://{tls_proxy.user}:{pw}@")
    config.write_text(f"opensearch:\n  url: {secret_url}\n  password: {pw}\n  ca_certs: {tls_proxy.ca_cert}\n")
    done = cli("--debug", "run", "--out", str(run_out / "second"), "--no-labeler", "--data", str(serving_runs.data),
               "--config", str(config), label="mros run (credentials in the config's URL)")
    assert done.returncode == 2 and "has credentials in it" in done.stderr, done.stderr
    config.unlink()  # the one file that holds the password on purpose
    # `mros run` checks the cluster before it creates the run directory (issue #19: fail early), so neither
    # stopped run wrote a run-config.yaml; its redaction is tests/unit/test_cluster_credentials.py's
    assert not (run_out / "run-config.yaml").exists() and not (run_out / "second" / "run-config.yaml").exists()

    forms = {"password": pw, "url-encoded": quote(pw, safe=""),
             "base64 user:password": base64.b64encode(f"{tls_proxy.user}:{pw}".encode()).decode(),
             "base64 password": base64.b64encode(pw.encode()).decode()}
    leaks = []
    for label, done in cli.outputs:
        for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
            leaks += [f"{label} {stream}: {form}" for form, value in forms.items() if value in text]
        assert "Authorization" not in done.stderr and "Basic " not in done.stderr, label
    assert len(cli.outputs) >= 13  # the module fixture's 8 runs and this test's 5
    assert list((through_proxy.run_dir / "deploy").glob("*.json")), "deploy wrote no manifest copy under RUN/deploy/"
    assert list(cli.home.rglob("*")), "$MROS_HOME is empty"
    files = [p for root in (through_proxy.tmp, tls_proxy.root) for p in root.rglob("*") if p.is_file()]
    files += _node_log_files(opensearch_url)
    assert through_proxy.run_dir / "deploy" in {p.parent for p in files}
    for path in files:
        data = path.read_bytes()
        leaks += [f"{path}: {form}" for form, value in forms.items() if value.encode() in data]
    metas = opensearch_client.indices.get_mapping(index=f"{ALIAS}-*")
    assert metas and all(body["mappings"]["_meta"]["created_by"] == "mros" for body in metas.values())
    leaks += [f"_meta: {form}" for form, value in forms.items() if value in json.dumps(metas)]
    assert not leaks, leaks
