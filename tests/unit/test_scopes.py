"""The scope catalogue and the parser every surface uses for scope input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authserver.errors import InvalidInputError
from authserver.scopes import ALL_SCOPES, describe_catalogue, format_scopes, parse_scopes, split_scopes


def test_catalogue_names_resource_dot_access_with_a_description_each():
    described = {item["scope"]: item["description"] for group in describe_catalogue() for item in group["scopes"]}
    assert set(described) == ALL_SCOPES
    assert {"contacts.readonly", "contacts.write", "calendars.readonly", "locations.readonly"} <= ALL_SCOPES
    assert all(text.strip() for text in described.values())
    for scope in ALL_SCOPES:
        resource, access = scope.split(".")
        assert access in ("readonly", "write")


@pytest.mark.parametrize(
    "value",
    [
        "contacts.readonly calendars.write",
        ["contacts.readonly", "calendars.write"],
        ("calendars.write", "contacts.readonly", "contacts.readonly"),
        "  contacts.readonly\tcalendars.write\n",
        ["contacts.readonly ", " calendars.write", ""],
    ],
)
def test_parse_scopes_accepts_a_space_separated_string_or_a_list(value):
    assert parse_scopes(value) == {"contacts.readonly", "calendars.write"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "at least one scope"),
        ("", "at least one scope"),
        ("   ", "at least one scope"),
        ([], "at least one scope"),
        ([""], "at least one scope"),
        (5, "list of strings"),
        ({"contacts.readonly": True}, "list of strings"),
        (["contacts.readonly", 5], "list of strings"),
        ("contacts.admin", "unknown scope: contacts.admin"),
        ("CONTACTS.READONLY", "unknown scope"),
        ("contacts.readonly openid", "unknown scope: 'openid'"),
        ("contacts.readonly\x00", "unknown scope"),
    ],
)
def test_parse_scopes_refuses_bad_input_naming_the_field(value, message):
    with pytest.raises(InvalidInputError) as caught:
        parse_scopes(value, field="allowed_scopes")
    assert message in caught.value.detail
    assert caught.value.field == "allowed_scopes"


def test_unknown_scope_message_does_not_echo_arbitrary_text():
    with pytest.raises(InvalidInputError) as caught:
        parse_scopes(["<script>alert(1)</script>" * 20])
    assert len(caught.value.detail) < 80
    assert "'<script>" in caught.value.detail  # shown as a short repr, not raw


@given(st.sets(st.sampled_from(sorted(ALL_SCOPES)), min_size=1))
def test_format_then_parse_is_the_identity_on_scope_sets(scopes):
    text = format_scopes(scopes)
    assert parse_scopes(text) == scopes
    assert split_scopes(text) == scopes
    assert text.split() == sorted(scopes)


@given(st.one_of(st.text(max_size=60), st.lists(st.text(max_size=20), max_size=5), st.none(), st.integers()))
def test_parse_scopes_of_anything_is_a_nonempty_catalogue_subset_or_invalid_input(value):
    try:
        scopes = parse_scopes(value)
    except InvalidInputError as error:
        assert error.field == "scopes"
        return
    assert scopes and scopes <= ALL_SCOPES
