"""Credentials before any request is sent: a URL with credentials is refused and shown redacted, a user
without a password is an error, ``--password-prompt`` reads a piped password, and ``mros run``'s
``run-config.yaml`` holds neither the password nor a URL's userinfo. (The TLS and HTTP errors of a real
proxy are in ``tests/integration/test_tls_auth.py``.)"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.cluster.connection import ClusterConfig, connect, redact_url, refuse_url_credentials
from mr_opensearch.core.errors import MrosError

SECRET = "s3cret-Unit-Pw"


@pytest.mark.parametrize(("url", "shown"), [
    (f"https://admin:{SECRET}@search.example.com:9200", "https://***@search.example.com:9200"),
    (f"https://admin:{SECRET}@search.example.com:9200/prefix", "https://***@search.example.com:9200/prefix"),
    (f"https://admin:p@ss{SECRET}@10.0.0.1:9200", "https://***@10.0.0.1:9200"),
    (f"admin:{SECRET}@localhost:9200", "***@localhost:9200"),
    (f"https://admin:a://{SECRET}@localhost:9200", "https://***@localhost:9200"),
    ("https://admin@localhost:9200", "https://***@localhost:9200"),
    ("https://search.example.com:9200", "https://search.example.com:9200"),
    ("http://127.0.0.1:9200/", "http://127.0.0.1:9200/"),
])
def test_redact_url_hides_userinfo(url: str, shown: str):
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


def test_a_url_with_credentials_is_refused_with_exit_2_and_shown_redacted():
    with pytest.raises(MrosError) as caught:
        refuse_url_credentials(f"https://admin:{SECRET}@search.example.com:9200")
    assert caught.value.exit_code == 2
    assert SECRET not in str(caught.value) and "https://***@search.example.com:9200" in caught.value.message
    assert "MROS_OPENSEARCH_PASSWORD" in caught.value.hint
    refuse_url_credentials("https://search.example.com:9200")  # no credentials: accepted


def test_connect_refuses_url_credentials_and_a_user_without_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MROS_OPENSEARCH_PASSWORD", raising=False)
    with pytest.raises(MrosError, match="has credentials in it") as caught:
        connect(ClusterConfig(url=f"https://admin:{SECRET}@127.0.0.1:1"))
    assert SECRET not in str(caught.value)
    with pytest.raises(MrosError, match="given but no password") as caught:
        connect(ClusterConfig(url="https://127.0.0.1:1", user="admin"))
    assert caught.value.exit_code == 1 and "--password-prompt" in caught.value.hint


def test_cli_url_with_credentials_exits_2_without_echoing_them():
    outcome = CliRunner().invoke(app, ["--debug", "status", "--alias", "a", "--url",
                                       f"https://admin:{SECRET}@127.0.0.1:1"])
    assert outcome.exit_code == 2
    assert "https://***@127.0.0.1:1" in outcome.output and SECRET not in outcome.output


def test_password_prompt_with_nothing_piped_in_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MROS_OPENSEARCH_PASSWORD", raising=False)
    outcome = CliRunner().invoke(app, ["status", "--alias", "a", "--url", "https://127.0.0.1:1", "--user", "admin",
                                       "--password-prompt"], input="")
    assert outcome.exit_code == 1
    assert "no password on standard input" in outcome.output


def test_password_prompt_reads_the_first_piped_line():
    import io
    import sys

    from mr_opensearch.cli._cluster import read_password

    saved = sys.stdin
    sys.stdin = io.StringIO(f"{SECRET}\r\nsecond line\n")
    try:
        assert read_password() == SECRET
    finally:
        sys.stdin = saved


def test_run_config_yaml_holds_no_password_nor_url_credentials():
    from mr_opensearch.job.config import RunConfig

    config = RunConfig()
    config.opensearch.url = f"https://admin:{SECRET}@search.example.com:9200"
    config.opensearch.password = SECRET
    text = config.dump_yaml()
    assert SECRET not in text
    assert "https://***@search.example.com:9200" in text and "password: '***'" in text
