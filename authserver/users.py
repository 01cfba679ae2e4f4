"""People: users, their role per account, and password checks."""

from __future__ import annotations

import functools
import re
from datetime import datetime

from sqlalchemy import select

from . import domain_events as de
from .accounts import descendants, get_account_for
from .emitter import emit
from .errors import ConflictError, InvalidInputError
from .extensions import db
from .models import Membership, User
from .principals import Principal
from .security import check_password, hash_password, new_id, password_needs_rehash
from .user_sessions import end_all_sessions

ROLES = ("admin", "member")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
MIN_PASSWORD_LENGTH = 10


def create_user(principal: Principal, *, account_id: str, email: str, role: str, password: str, now: datetime) -> User:
    """Create a user with a role on an account, or add the role to an existing user of that email."""
    get_account_for(principal, account_id, write=True)
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise InvalidInputError("email is not a valid address", field="email")
    if role not in ROLES:
        raise InvalidInputError("role must be admin or member", field="role")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(id=new_id("usr"), email=email, password_hash=hash_password(password), created_at=now)
        db.session.add(user)
        db.session.flush()
    elif db.session.get(Membership, (user.id, account_id)) is not None:
        raise ConflictError(f"{email} already belongs to this account")
    db.session.add(Membership(user_id=user.id, account_id=account_id, role=role))
    emit(de.UserAdded(actor=principal, now=now, account_id=account_id, user_id=user.id, email=email, role=role))
    db.session.flush()
    return user


def authenticate_user(email: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        # Spend the same time as a real check so response time does not reveal which emails exist.
        check_password(password, _dummy_hash())
        return None
    return user if check_password(password, user.password_hash) else None


def rehash_password(user: User, password: str) -> bool:
    """After a successful check: replace a hash made with older parameters (stdlib scrypt before argon2id) by one
    made today, in the caller's unit of work. The password is known only at sign-in, so this is the one chance."""
    if not password_needs_rehash(user.password_hash):
        return False
    user.password_hash = hash_password(password)
    db.session.flush()
    return True


def user_principal(user: User, source_address: str | None) -> Principal:
    """Admins of an agency administer its sub-accounts; members view theirs."""
    memberships = db.session.scalars(select(Membership).where(Membership.user_id == user.id))
    admin_roots: set[str] = set()
    member_roots: set[str] = set()
    for membership in memberships:
        (admin_roots if membership.role == "admin" else member_roots).add(membership.account_id)
    admin_of = descendants(admin_roots)
    member_of = descendants(member_roots) - admin_of
    home = admin_roots | member_roots  # a user of several accounts has no one home: its refusals go to the operator
    return Principal(
        kind="user",
        id=user.id,
        admin_of=admin_of,
        member_of=member_of,
        source_address=source_address,
        account_id=next(iter(home)) if len(home) == 1 else None,
    )


def change_password(user: User, *, current_password: str, new_password: str, now: datetime) -> None:
    """A new password ends every session of the user (a stolen cookie dies with the old password)."""
    if not isinstance(current_password, str) or not check_password(current_password, user.password_hash):
        raise InvalidInputError("the current password is not correct", field="current_password")
    if not isinstance(new_password, str) or len(new_password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the new password must be at least {MIN_PASSWORD_LENGTH} characters", field="new_password"
        )
    user.password_hash = hash_password(new_password)
    user.session_generation += 1
    end_all_sessions(user.id, now=now)
    emit(de.PasswordChanged(actor=Principal(kind="user", id=user.id), now=now, user_id=user.id))
    db.session.flush()


def emails_by_id(user_ids: set[str]) -> dict[str, str]:
    """For showing who did what (audit trails name people, not ids)."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {user_id: email for user_id, email in rows}


@functools.cache
def _dummy_hash() -> str:
    """An argon2id hash with today's parameters, made once per process on first need (not at import)."""
    return hash_password("not-a-real-password-used-for-timing")
