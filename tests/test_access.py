"""Roles and permissions as data (app/roles.yaml, app/access.py).

What every route answers to every role, the anonymous and API keys is tested in test_roles.py
(it replaced the anonymous-only checks that lived here)."""
from __future__ import annotations

import pytest

from app import access
from app.access import API_READER, can, declare, permissions, required_permission, roles
from app.meta import ROLES
from app.web.nav import ENTRIES


def test_the_seven_roles_in_file_order():
    assert tuple(roles()) == ("administrator", "security", "operations", "technical", "support", "manager", "auditor")
    assert ROLES == tuple(roles())   # what users may be given
    assert all(description.strip() for description in roles().values())


def test_permissions_name_only_known_roles():
    for name, members in permissions().items():
        assert members, f"{name}: nobody has it"
        assert members <= set(roles()) | {API_READER}, name


def test_sensitive_permissions_stay_narrow():
    assert permissions()["manage_users"] == {"administrator"}
    assert permissions()["see_personal"] == {"security"}
    assert API_READER not in permissions()["reading_trail"] | permissions()["reveal_personal"] \
        | permissions()["live_tail"] | permissions()["manage_users"]
    assert all(can(role, "search") for role in roles())


def test_unknown_permissions_are_errors():
    with pytest.raises(KeyError):
        can("administrator", "manage_usres")
    with pytest.raises(KeyError):
        declare(lambda: None, "manage_usres")


def test_declare_and_read_back():
    def view():
        pass
    assert required_permission(view) is None
    assert required_permission(declare(view, "export")) == "export"
    assert not can(None, "search")                     # the anonymous have no role


def test_navigation_entries_name_real_permissions():
    assert {permission for *_, permission in ENTRIES} <= set(permissions())
    assert ("web.users", "Users", "manage_users") in ENTRIES


def test_roles_file_is_loaded_once():
    assert access._load() is access._load()
