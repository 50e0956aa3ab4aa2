"""The wheel is the app (issue 16.7): built from the sources, installed into a fresh virtual
environment (no site packages of the system's), and run from a directory outside the checkout,
`platlogs alerts list` lists the shipped rules and `platlogs templates` reads the shipped index
templates — found with importlib.resources inside the installed package, not beside a checkout.

Fast and offline: the wheel is built with the project venv's setuptools (no build isolation, so
nothing is downloaded) from a copy of the sources (the checkout is left as it is); it is installed
with --no-deps, and the environment reaches the dependencies through a .pth line naming the
project venv's site-packages directory. A directory named in a .pth line is put on the path
without its own .pth files being run, so the project's editable install (an import hook run from
a .pth file there) is not active: `app` can only come from the wheel, which the test checks."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "app" / "shipped"


def _run(args, *, cwd, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The venv's bin directory and an environment to run it in, from outside the checkout."""
    import setuptools
    major = int(setuptools.__version__.split(".")[0])
    assert major >= 77, "the test extra's setuptools>=77 builds the wheel (pip install -e '.[test]')"
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("app", "platlogs_client"):
        shutil.copytree(REPO / name, source / name, symlinks=False,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "-q", "-w", root / "dist", source], cwd=root)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (root / "dist").glob("platform_logs-*.whl")

    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=root).stdout.strip())
    done = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
                cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    # the dependencies: the project venv's site-packages, after the venv's own (a .pth line appends)
    (purelib / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PLATLOGS_") and key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PLATLOGS_DATA_DIR=str(root / "data"), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               PLATLOGS_SECRET_KEY="wheel-install-test-secret-key")
    return {"bin": venv / "bin", "python": python, "cwd": elsewhere, "env": env, "root": root,
            "purelib": purelib}


def test_the_app_comes_from_the_wheel_not_the_checkout(installed):
    found = _run([installed["python"], "-c", "import app, app.config as c; print(app.__file__); "
                  "print(c.shipped_dir('alerts'))"], cwd=installed["cwd"], env=installed["env"])
    assert found.returncode == 0, found.stderr
    module, rules = found.stdout.split()
    assert Path(module).is_relative_to(installed["purelib"]), module
    assert Path(rules).is_relative_to(installed["purelib"]) and Path(rules).is_dir(), rules
    assert not Path(module).is_relative_to(REPO)


def test_alerts_list_shows_the_shipped_rules(installed):
    listed = _run([installed["bin"] / "platlogs", "alerts", "list"], cwd=installed["cwd"], env=installed["env"])
    assert listed.returncode == 0, listed.stdout + listed.stderr
    shipped = []
    for path in sorted(SHIPPED.joinpath("alerts").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        shipped += [rule["id"] for rule in (raw if isinstance(raw, list) else [raw])]
    assert len(shipped) >= 8
    ids = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert sorted(ids) == sorted(shipped), listed.stdout + listed.stderr
    assert "rule files:" not in listed.stderr


def test_templates_reads_the_shipped_index_templates(installed):
    printed = _run([installed["bin"] / "platlogs", "templates"], cwd=installed["cwd"], env=installed["env"])
    assert printed.returncode == 0, printed.stdout + printed.stderr
    shipped = json.loads(SHIPPED.joinpath("index_templates", "platlogs-common.json").read_text())
    template = json.loads(printed.stdout)
    assert template["version"] == shipped["version"]
    assert template == shipped   # the committed template is the one generated from the schema
    from_wheel = _run([installed["python"], "-c", "from app.storage import opensearch_templates as t; "
                       "print(sorted(t.component_templates())); print(sorted(t.retention_policies()))"],
                      cwd=installed["cwd"], env=installed["env"])
    assert from_wheel.returncode == 0, from_wheel.stderr
    components, policies = from_wheel.stdout.splitlines()
    assert eval(components) == sorted(p.stem for p in SHIPPED.joinpath("index_templates").glob("platlogs-*.json")
                                      if p.stem != "platlogs-common")
    assert eval(policies) == sorted(p.stem for p in SHIPPED.joinpath("index_templates", "retention").glob("*.json"))


def test_one_setting_chooses_the_rules_directory(installed):
    own = installed["root"] / "own-rules"
    own.mkdir(exist_ok=True)
    (own / "mine.yaml").write_text("id: only-mine\nname: Mine\nkind: threshold\nquery: 'event.action:x'\n"
                                   "window: 5m\nthreshold: 3\n")
    env = {**installed["env"], "PLATLOGS_RULES_DIR": str(own)}
    listed = _run([installed["bin"] / "platlogs", "alerts", "list"], cwd=installed["cwd"], env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()] == ["only-mine"]
    env["PLATLOGS_RULES_DIR"] = str(installed["root"] / "no-such-dir")
    refused = _run([installed["bin"] / "platlogs", "alerts", "list"], cwd=installed["cwd"], env=env)
    assert refused.returncode != 0 and "PLATLOGS_RULES_DIR: no such directory" in refused.stdout + refused.stderr


def test_the_pages_templates_and_static_files_are_in_the_wheel(installed):
    """Every page template and static file of the checkout is installed (subfolders too)."""
    listed = _run([installed["python"], "-c", "import app, pathlib; root = pathlib.Path(app.__file__).parent; "
                   "print('\\n'.join(str(p.relative_to(root)) for p in (root / 'web').rglob('*') if p.is_file()))"],
                  cwd=installed["cwd"], env=installed["env"])
    assert listed.returncode == 0, listed.stderr
    installed_files = set(listed.stdout.split())
    web = REPO / "app" / "web"
    wanted = {str(p.relative_to(REPO / "app")) for folder in ("templates", "static") for p in (web / folder).rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert wanted - installed_files == set()


@pytest.mark.parametrize("setting, shipped", [("RULES_DIR", "alerts"), ("TEMPLATES_DIR", "index_templates"),
                                              ("DASHBOARDS_DIR", "dashboards")])
def test_each_data_directory_is_one_setting(tmp_path, setting, shipped):
    """Settings, the app's pages and the module-level readers take the directory from one place."""
    from app.config import ConfigError, Settings, directory_setting, shipped_dir
    env = {"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_SECRET_KEY": "s" * 32}
    assert directory_setting(setting, env) == shipped_dir(shipped) == SHIPPED / shipped
    own = tmp_path / "own"
    own.mkdir()
    settings = Settings.from_env({**env, f"PLATLOGS_{setting}": str(own)})
    assert {"RULES_DIR": settings.rules_dir, "TEMPLATES_DIR": settings.templates_dir,
            "DASHBOARDS_DIR": settings.dashboards_dir}[setting] == own
    with pytest.raises(ConfigError, match=f"PLATLOGS_{setting}: no such directory"):
        Settings.from_env({**env, f"PLATLOGS_{setting}": str(tmp_path / "missing")})


def test_the_pages_read_the_settings_directories(tmp_path, monkeypatch):
    from app import create_app
    from app.alerts.rules import default_rules_dir
    from app.dashboards.definitions import default_dashboards_dir
    from app.storage.opensearch_templates import template_dir
    own = {name: tmp_path / name for name in ("rules", "templates", "dashboards")}
    for path in own.values():
        path.mkdir()
    env = {"PLATLOGS_DATA_DIR": str(tmp_path / "data"), "PLATLOGS_SECRET_KEY": "s" * 32,
           "PLATLOGS_RULES_DIR": str(own["rules"]), "PLATLOGS_TEMPLATES_DIR": str(own["templates"]),
           "PLATLOGS_DASHBOARDS_DIR": str(own["dashboards"])}
    app = create_app(env)
    try:
        assert app.config["ALERT_RULES_DIR"] == str(own["rules"])
        assert app.config["PLATLOGS_DASHBOARDS_DIR"] == str(own["dashboards"])
    finally:
        app.extensions["platlogs"].close()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert (default_rules_dir(), template_dir(), default_dashboards_dir()) == \
        (own["rules"], own["templates"], own["dashboards"])
