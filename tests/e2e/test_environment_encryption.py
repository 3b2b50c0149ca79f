"""Environment variables at rest: sealed with AES-GCM in the store, never in plaintext on disk."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from tests.support.server import StratusServer, invoke_json, make_zip

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
CODE = make_zip({"app.py": "import os\ndef handler(event, context):\n"
                           "    return {k: os.environ.get(k) for k in event['keys']}\n"})


def raw_bytes_on_disk(data_dir) -> bytes:
    """Every byte Stratus wrote under its data dir (database, WAL, blobs, logs, ...)."""
    chunks = []
    for root, _, files in os.walk(data_dir):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as handle:
                    chunks.append(handle.read())
            except OSError:
                pass
    return b"".join(chunks)


def test_variables_never_on_disk_in_plaintext(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    server = fresh_server(data_dir=data_dir)
    lam = server.client()
    secrets = {"DB_PASSWORD": "correct-horse-battery-staple-1", "API_TOKEN": "tok-5b1f0c2e9d8a7"}
    lam.create_function(FunctionName="vault", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": CODE}, Environment={"Variables": secrets},
                        KMSKeyArn="arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    lam.publish_version(FunctionName="vault")
    lam.update_function_configuration(FunctionName="vault",
                                      Environment={"Variables": dict(secrets, EXTRA="rotated-value-77f3")})
    config = lam.get_function_configuration(FunctionName="vault")
    assert config["Environment"]["Variables"]["DB_PASSWORD"] == secrets["DB_PASSWORD"]
    assert config["KMSKeyArn"].startswith("arn:aws:kms:")
    assert invoke_json(lam, "vault", {"keys": ["API_TOKEN"]}, Qualifier="1")[1] == {"API_TOKEN": secrets["API_TOKEN"]}

    on_disk = raw_bytes_on_disk(data_dir)
    assert b"vault" in on_disk  # the scan does see the store
    for value in [*secrets.values(), "rotated-value-77f3"]:
        assert value.encode() not in on_disk, f"{value} found in plaintext under {data_dir}"
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_bytes()) == 32

    # After a restart the values are decrypted again, for $LATEST and the published version.
    assert server.stop() == 0
    server.start()
    assert lam.get_function_configuration(FunctionName="vault", Qualifier="1")["Environment"]["Variables"] == secrets
    assert invoke_json(lam, "vault", {"keys": ["EXTRA"]})[1] == {"EXTRA": "rotated-value-77f3"}


def test_a_configured_key_is_used_and_a_wrong_key_refuses_to_start(tmp_path):
    data_dir = tmp_path / "data"
    key = base64.b64encode(os.urandom(32)).decode()
    with StratusServer(data_dir, env={"STRATUS_ENCRYPTION_KEY": key}) as server:
        server.client().create_function(FunctionName="keyed", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                        Code={"ZipFile": CODE}, Environment={"Variables": {"KEY": "v-secret-991"}})
    assert not (data_dir / "secret.key").exists()  # the configured key, not a key file

    with StratusServer(data_dir, env={"STRATUS_ENCRYPTION_KEY": key}) as server:
        config = server.client().get_function_configuration(FunctionName="keyed")
        assert config["Environment"]["Variables"] == {"KEY": "v-secret-991"}

    wrong = StratusServer(data_dir, env={"STRATUS_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()})
    with pytest.raises(RuntimeError) as excinfo:
        wrong.start(timeout_s=15)
    assert "encryption key is not the one" in str(excinfo.value)
    malformed = StratusServer(data_dir, env={"STRATUS_ENCRYPTION_KEY": "not base64!"})
    with pytest.raises(RuntimeError) as excinfo:
        malformed.start(timeout_s=15)
    assert "STRATUS_ENCRYPTION_KEY is not valid base64" in str(excinfo.value)
