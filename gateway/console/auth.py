"""Console users, their roles and sessions.

Users are named accounts an admin creates from the CLI (``alarm-gateway users add``); the
password is kept as a salted scrypt hash. A login makes a session: a random token handed to the
browser in an HttpOnly cookie (or used as a bearer token by scripts), kept in the store as a
hash, and ending after the session length or when idle too long.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

ROLES = ("operator", "supervisor", "technician", "tester", "admin")

# What each role may do. A tester may also work drill incidents like an operator
# (``may_work``); an admin may do everything.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "work": frozenset({"operator", "supervisor", "admin"}),  # ack, steps, prompts, records...
    "note": frozenset(ROLES),
    "open": frozenset({"operator", "supervisor", "admin"}),
    "close": frozenset({"supervisor", "admin"}),  # close with review, reopen, assign
    "drill": frozenset({"tester", "admin"}),
    "walk_test": frozenset({"technician", "tester", "admin"}),
    "shelve": frozenset({"technician", "supervisor", "admin"}),  # take a point out of service
}

# verb → permission
VERB_PERMISSION = {
    "ack": "work", "confirm": "work", "reject": "work", "decide": "work", "step": "work",
    "arrive": "work", "answer": "work", "record": "work", "resolve": "work",
    "follow_up": "work", "note": "note", "close": "close", "reopen": "close",
    "assign": "close",
}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                         p=int(p), dklen=len(digest) // 2)
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    display: str
    roles: tuple[str, ...]
    disabled: bool = False

    def may(self, permission: str) -> bool:
        allowed = PERMISSIONS[permission]
        return any(role in allowed for role in self.roles)

    def may_work(self, verb: str, *, drill: bool) -> bool:
        """Whether this user may give an incident command (a tester: on drill incidents)."""
        permission = VERB_PERMISSION.get(verb, "close")
        if self.may(permission):
            return True
        return drill and "tester" in self.roles and permission in ("work", "close")


# ----------------------------------------------------------------------------- store access


def add_user(conn: sqlite3.Connection, name: str, display: str, roles: list[str],
             password: str, now: float) -> None:
    _check(name, roles, password)
    try:
        conn.execute("INSERT INTO users (name, display, password, roles, created_at)"
                     " VALUES (?,?,?,?,?)",
                     (name, display or name, hash_password(password), ",".join(roles), now))
    except sqlite3.IntegrityError:
        raise ValueError(f"user {name!r} already exists") from None


def set_password(conn: sqlite3.Connection, name: str, password: str) -> None:
    _check(name, ["operator"], password)
    if conn.execute("UPDATE users SET password = ? WHERE name = ?",
                    (hash_password(password), name)).rowcount == 0:
        raise ValueError(f"no user {name!r}")
    conn.execute("DELETE FROM sessions WHERE user = ?", (name,))


def set_disabled(conn: sqlite3.Connection, name: str, disabled: bool) -> None:
    if conn.execute("UPDATE users SET disabled = ? WHERE name = ?",
                    (disabled, name)).rowcount == 0:
        raise ValueError(f"no user {name!r}")
    if disabled:
        conn.execute("DELETE FROM sessions WHERE user = ?", (name,))


def set_roles(conn: sqlite3.Connection, name: str, roles: list[str]) -> None:
    _check(name, roles, "x" * 8)
    if conn.execute("UPDATE users SET roles = ? WHERE name = ?",
                    (",".join(roles), name)).rowcount == 0:
        raise ValueError(f"no user {name!r}")


def list_users(conn: sqlite3.Connection) -> list[User]:
    return [User(name, display, tuple(roles.split(",")), bool(disabled))
            for name, display, roles, disabled in conn.execute(
                "SELECT name, display, roles, disabled FROM users ORDER BY name")]


def user_count(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM users").fetchone()
    return int(row[0])


def authenticate(conn: sqlite3.Connection, name: str, password: str) -> User | None:
    row = conn.execute("SELECT display, password, roles, disabled FROM users WHERE name = ?",
                       (name,)).fetchone()
    if row is None:
        # the same work as a real check, so a wrong name is not told apart by its timing
        check_password(password, _DUMMY_HASH)
        return None
    display, stored, roles, disabled = row
    if disabled or not check_password(password, stored):
        return None
    return User(name, display, tuple(roles.split(",")))


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_session(conn: sqlite3.Connection, user: str, now: float, length: float) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
    conn.execute("INSERT INTO sessions (token_hash, user, created_at, expires_at)"
                 " VALUES (?,?,?,?)", (token_hash(token), user, now, now + length))
    return token


def session_user(conn: sqlite3.Connection, token: str, now: float) -> User | None:
    row = conn.execute(
        "SELECT u.name, u.display, u.roles FROM sessions s JOIN users u ON u.name = s.user"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        (token_hash(token), now)).fetchone()
    return User(row[0], row[1], tuple(row[2].split(","))) if row else None


def end_session(conn: sqlite3.Connection, token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))


def _check(name: str, roles: list[str], password: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"user name {name!r}: letters, digits, '-', '_' and '.' only")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be among {', '.join(ROLES)} (got {', '.join(roles)})")
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")


_DUMMY_HASH = hash_password("not a password of anyone")
