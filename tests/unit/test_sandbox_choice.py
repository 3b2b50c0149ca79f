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
