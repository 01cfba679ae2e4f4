"""Identifiers and names from outside: any text is either found, cleanly not found, or a clear refusal, on every
storage backend (PostgreSQL, for one, refuses NUL characters in a query parameter)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authserver import accounts, integrations
from authserver.admin_api.parsing import expected_version
from authserver.clients import find_client
from authserver.errors import InvalidInputError, NotFoundError
from authserver.extensions import db
from authserver.principals import OPERATOR
from authserver.security import new_id
from authserver.tokens import load_state

# Function-scoped fixtures are fine here: lookups change nothing between examples.
lookups = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
identifiers = st.one_of(
    st.text(max_size=80),
    st.just("acc_\x00"),
    st.just("int_" + "a" * 5000),
    st.builds(lambda prefix: new_id(prefix), st.sampled_from(["acc", "int", "tok", "cli"])),
)


@pytest.mark.parametrize("prefix", ["acc", "int", "tok", "cli", "usr"])
def test_new_ids_are_the_prefix_and_24_lower_base32_characters(prefix):
    assert re.fullmatch(prefix + r"_[a-z2-7]{24}", new_id(prefix))


@lookups
@given(identifier=identifiers)
def test_an_unknown_account_id_is_not_found(app, identifier):
    with pytest.raises(NotFoundError):
        accounts.get_account_for(OPERATOR, identifier)
    db.session.rollback()


@lookups
@given(identifier=identifiers)
def test_an_unknown_integration_id_is_not_found(app, identifier):
    with pytest.raises(NotFoundError):
        integrations.get_integration_for(OPERATOR, identifier)
    db.session.rollback()


@lookups
@given(identifier=identifiers)
def test_an_unknown_client_id_or_jti_is_none(app, identifier):
    assert find_client(identifier) is None
    assert load_state(identifier) is None
    db.session.rollback()


@given(st.text(max_size=250))
def test_a_name_is_cleaned_or_refused_naming_the_field(text):
    try:
        name = accounts.clean_name(text)
    except InvalidInputError as error:
        assert error.field == "name"
        return
    assert name == text.strip() and 0 < len(name) <= 200 and all(ord(ch) >= 32 for ch in name)


@lookups
@given(header=st.text(max_size=20))
def test_if_match_is_a_version_or_a_refusal_naming_the_header(app, header):
    try:
        with app.test_request_context(headers={"If-Match": header}):
            version = expected_version()
    except InvalidInputError as error:
        assert error.field == "If-Match"
        return
    except ValueError:  # a header werkzeug itself will not carry (e.g. a newline): never reaches us
        return
    assert version is None or (isinstance(version, int) and version >= 0)
