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
        assert members <= set(roles()) | set(access.key_roles()), name


def test_sensitive_permissions_stay_narrow():
    assert permissions()["manage_users"] == {"administrator"}
    assert permissions()["see_personal"] == {"security"}
    for key_role in access.key_roles():   # no API key sees personal data, the trail, or administers
        assert key_role not in permissions()["reading_trail"] | permissions()["reveal_personal"] \
            | permissions()["see_personal"] | permissions()["live_tail"] | permissions()["manage_users"] \
            | permissions()["edit_alert_rules"] | permissions()["manage_destinations"], key_role
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


# -- API keys: key roles and scopes (app/roles.yaml key_roles, key_scopes, legacy_key_scopes) ---------

def test_key_scopes_give_key_roles():
    assert access.key_scopes() == ("ingest", "read", "alerts:write")
    assert access.roles_for_scopes(["ingest"]) == ()
    assert access.roles_for_scopes(["read"]) == ("api_alert_reader", API_READER)
    assert access.roles_for_scopes(["alerts:write", "read"]) == ("api_alert_reader", "api_alert_writer", API_READER)
    assert access.roles_for_scopes(["read"], legacy=True) == (API_READER,)     # keys made before 0002
    with pytest.raises(ValueError, match="alerts:admin"):
        access.roles_for_scopes(["alerts:admin"])
    assert access.scopes_giving("view_alerts") == ("read", "alerts:write")
    assert access.scopes_giving("act_on_alerts") == ("alerts:write",)
    assert access.scopes_giving("manage_users") == ()


def test_a_key_made_before_0002_reads_exactly_what_it_read():
    """What api_reader held when keys did not keep their roles: a legacy read key keeps it, no more."""
    assert access.permissions_of(*access.roles_for_scopes(["read"], legacy=True)) == {
        "search", "export", "view_timeline", "view_errors", "view_integrations", "view_ingest", "view_dashboards"}


def test_a_scope_is_declared_with_its_route():
    def view():
        pass
    declare(view, "view_alerts", ("read", "alerts:write"))
    assert access.required_scopes(view) == ("read", "alerts:write")
    with pytest.raises(KeyError):
        declare(view, "view_alerts", ("alerts:admin",))


@pytest.mark.parametrize("change,message", [
    (lambda raw: raw["permissions"].__setitem__("search", ["administrator", "api_nobody"]),
     r"permissions\.search names unknown roles \['api_nobody'\]"),
    (lambda raw: raw["key_scopes"].__setitem__("read", ["api_nobody"]),
     r"key_scopes\.read names unknown key roles \['api_nobody'\]"),
    (lambda raw: raw["key_scopes"].__setitem__("read", "api_reader"), r"key_scopes\.read: a list of key roles"),
    (lambda raw: raw.pop("legacy_key_scopes"), r"legacy_key_scopes: a mapping"),
    (lambda raw: raw["key_roles"].__setitem__("auditor", "x"), r"key_roles: \['auditor'\] are people's roles too"),
])
def test_a_wrong_roles_file_is_refused_naming_the_entry(change, message):
    import yaml
    raw = yaml.safe_load(access.ROLES_FILE.read_text())
    change(raw)
    with pytest.raises(access.RolesFileError, match=r"roles\.yaml: " + message):
        access.parse(raw)
