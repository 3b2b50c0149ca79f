"""The sandbox backend is chosen by what the host allows: plain only with one clear warning."""

import logging

import pytest

from stratus import sandbox
from stratus.sandbox import namespaced


def test_auto_falls_back_to_plain_with_one_warning_when_bwrap_is_missing(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(namespaced.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="stratus.sandbox"):
        chosen = sandbox.create_sandbox("auto", tmp_path)
    assert isinstance(chosen, sandbox.PlainSandbox)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "WITHOUT namespace/cgroup isolation" in warnings[0].getMessage()
    assert "bubblewrap" in warnings[0].getMessage()


def test_forcing_namespaced_where_it_cannot_run_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setattr(namespaced.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="namespaced sandbox is not available"):
        sandbox.create_sandbox("namespaced", tmp_path)


def test_plain_can_be_forced_and_unknown_backends_are_refused(tmp_path):
    assert isinstance(sandbox.create_sandbox("plain", tmp_path), sandbox.PlainSandbox)
    with pytest.raises(ValueError):
        sandbox.create_sandbox("docker", tmp_path)


def test_forcing_plain_warns_once_that_it_is_unsafe(caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="stratus.sandbox"):
        sandbox.create_sandbox("plain", tmp_path)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "UNSAFE for untrusted code" in warnings[0] and "STRATUS_SANDBOX=plain" in warnings[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_plain_is_refused_beyond_loopback(monkeypatch, tmp_path, host):
    monkeypatch.setattr(namespaced.shutil, "which", lambda name: None)  # auto falls back to plain: refused too
    for kind in ("plain", "auto"):
        with pytest.raises(sandbox.SandboxRefused, match="refused when the server listens beyond loopback"):
            sandbox.create_sandbox(kind, tmp_path, host=host)


def test_plain_under_a_non_root_server_keeps_the_servers_user_and_says_so(monkeypatch, tmp_path):
    import os

    from stratus.sandbox import plain

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    chosen = plain.PlainSandbox(tmp_path / "sandboxes")
    assert chosen._take_uid() is None  # no user to switch to
    assert chosen.visible_paths(tmp_path / "code", tmp_path / "runtime") == (str(tmp_path / "code"),
                                                                             str(tmp_path / "runtime"))
    assert "server's own user (uid 1000)" in chosen.describe_identity()
    assert plain.drop_privileges("/usr/bin/setpriv", None) == ["/usr/bin/setpriv", "--no-new-privs", "--"]
