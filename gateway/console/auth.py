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
from dataclasses import dataclass

from gateway.domain.commands import COMMANDS
from gateway.store.records import Records
from gateway.store.values import UserRow

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
    "reload": frozenset({"technician", "admin"}),  # the config read again
    # an actuator commanded by hand (a tester too, as a drill's: ``may_actuate``)
    "actuate": frozenset({"operator", "supervisor", "technician", "admin"}),
}

# verb → permission, from each command's definition
VERB_PERMISSION = {verb: c.permission for verb, c in COMMANDS.items()}

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

    def may_actuate(self, *, drill: bool) -> bool:
        """Whether this user may command an actuator by hand (a tester: as a drill's, its
        write withheld)."""
        return self.may("actuate") or (drill and "tester" in self.roles)


# ----------------------------------------------------------------------------- store access


def _user(row: UserRow) -> User:
    return User(row.name, row.display, row.roles, row.disabled)


def add_user(records: Records, name: str, display: str, roles: list[str],
             password: str, now: float) -> None:
    _check(name, roles, password)
    records.add_user(UserRow(name, display or name, tuple(roles), False,
                             hash_password(password)), now)


def set_password(records: Records, name: str, password: str) -> None:
    _check(name, ["operator"], password)
    if not records.update_user(name, password_hash=hash_password(password)):
        raise ValueError(f"no user {name!r}")
    records.end_sessions(user=name)


def set_disabled(records: Records, name: str, disabled: bool) -> None:
    if not records.update_user(name, disabled=disabled):
        raise ValueError(f"no user {name!r}")
    if disabled:
        records.end_sessions(user=name)


def set_roles(records: Records, name: str, roles: list[str]) -> None:
    _check(name, roles, "x" * 8)
    if not records.update_user(name, roles=roles):
        raise ValueError(f"no user {name!r}")


def list_users(records: Records) -> list[User]:
    return [_user(row) for row in records.list_users()]


def authenticate(records: Records, name: str, password: str) -> User | None:
    row = records.find_user(name)
    if row is None:
        # the same work as a real check, so a wrong name is not told apart by its timing
        check_password(password, _DUMMY_HASH)
        return None
    # a disabled account answers as a wrong password would, after the same work
    right = check_password(password, row.password_hash)
    if row.disabled or not right:
        return None
    return _user(row)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_session(records: Records, user: str, now: float, length: float) -> str:
    token = secrets.token_urlsafe(32)
    records.add_session(token_hash(token), user, now, now + length)
    return token


def session_user(records: Records, token: str, now: float) -> User | None:
    row = records.session_user(token_hash(token), now)
    return _user(row) if row else None


def session_expires(records: Records, token: str) -> float:
    return records.session_expires(token_hash(token))


def end_session(records: Records, token: str) -> None:
    records.end_sessions(token_hash=token_hash(token))


def _check(name: str, roles: list[str], password: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"user name {name!r}: letters, digits, '-', '_' and '.' only")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be among {', '.join(ROLES)} (got {', '.join(roles)})")
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")


_DUMMY_HASH = hash_password("not a password of anyone")
