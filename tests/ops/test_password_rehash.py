"""Old scrypt password hashes become argon2id on the next sign-in, through a real ``authserver run`` over HTTP."""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3

import pytest
import requests
from argon2 import PasswordHasher

from authserver.security import check_password, hash_password, password_needs_rehash
from tests.support.servers import make_authserver

PASSWORD = "an old but good password"
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def old_scrypt_hash(password: str) -> str:
    """Exactly what security.hash_password stored before argon2id: stdlib scrypt, N=2^14, r=8, p=1, 32 bytes."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${key.hex()}"


def stored_hash(server, email: str) -> str:
    with sqlite3.connect(server.workdir / "authserver.db") as connection:
        return connection.execute("SELECT password_hash FROM users WHERE email = ?", (email,)).fetchone()[0]


def sign_in(server, email: str, password: str) -> requests.Response:
    session = requests.Session()
    page = session.get(f"{server.url}/signin", timeout=30)
    token = _FORM_TOKEN.search(page.text).group(1)
    return session.post(
        f"{server.url}/signin",
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = make_authserver(tmp_path_factory.mktemp("rehash"))
    account = server.cli("account", "create", "--name", "Rehash Co", "--json")
    for email in ("old@rehash.example", "new@rehash.example"):
        server.cli(
            "user", "create", "--account", account["id"], "--email", email, "--role", "admin",
            "--password-stdin", "--json", stdin=PASSWORD,
        )  # fmt: skip
    with sqlite3.connect(server.workdir / "authserver.db") as connection:
        connection.execute(
            "UPDATE users SET password_hash = ? WHERE email = ?", (old_scrypt_hash(PASSWORD), "old@rehash.example")
        )
    server.start()
    yield server
    server.stop()


def test_new_users_get_argon2id_hashes(server):
    stored = stored_hash(server, "new@rehash.example")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not password_needs_rehash(stored)


def test_wrong_password_on_an_old_hash_fails_and_keeps_the_hash(server):
    before = stored_hash(server, "old@rehash.example")
    assert before.startswith("scrypt$16384$")
    response = sign_in(server, "old@rehash.example", "not the password at all")
    assert response.status_code == 400
    assert "The email or password is not correct." in response.text
    assert stored_hash(server, "old@rehash.example") == before


def test_sign_in_with_an_old_scrypt_hash_rehashes_to_argon2id(server):
    response = sign_in(server, "old@rehash.example", PASSWORD)
    assert response.status_code == 302, response.text
    assert "authserver_session" in response.headers.get("Set-Cookie", "")
    after = stored_hash(server, "old@rehash.example")
    assert after.startswith("$argon2id$")
    assert check_password(PASSWORD, after) and not check_password(PASSWORD + "x", after)
    # The same password still signs in (now against the argon2id hash), and the hash is not rewritten again.
    assert sign_in(server, "old@rehash.example", PASSWORD).status_code == 302
    assert stored_hash(server, "old@rehash.example") == after
    assert sign_in(server, "old@rehash.example", "still not the password").status_code == 400


def test_unknown_emails_get_the_same_answer(server):
    response = sign_in(server, "nobody@rehash.example", PASSWORD)
    assert response.status_code == 400
    assert "The email or password is not correct." in response.text


@pytest.mark.parametrize(
    "stored",
    ["", "garbage", "scrypt$1$2", "scrypt$16384$8$1$zz$zz", "$argon2id$v=19$m=65536,t=3,p=4$bad", "$argon2i$x"],
)
def test_malformed_stored_hashes_never_match_and_need_rehash(stored):
    assert check_password("anything", stored) is False
    assert password_needs_rehash(stored) is True


def test_a_weaker_argon2id_hash_still_verifies_but_needs_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert check_password(PASSWORD, weak) and password_needs_rehash(weak)
    assert not password_needs_rehash(hash_password(PASSWORD))
