"""build_addon.py: the release zip (vendored code, wheels for every platform and Python, Blender's
own validation) and the add-on's bpy-free network rules."""
from __future__ import annotations

import importlib.util
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import build_addon  # noqa: E402


def _load_by_path(name: str, path: Path):
    """Import one bpy-free add-on module without running the add-on package's __init__ (needs bpy)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


network = _load_by_path("anix_addon_network", REPO / "blender_addon" / "network.py")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    try:
        return build_addon.build(out, with_wheels=True), True
    except build_addon.BuildError as exc:
        if "pip could not download" not in str(exc):
            raise
        return build_addon.build(out, with_wheels=False), False


def test_zip_is_named_after_the_manifest_version_and_passes_blender_validation(built):
    path, _ = built
    version = tomllib.loads((REPO / "blender_addon" / "blender_manifest.toml").read_text())["version"]
    assert path.name == f"anix_studio-{version}.zip"
    assert build_addon.find_blender_ext() is not None, "bpy's blender_ext.py should be found in this environment"
    build_addon.validate(path)  # raises on any complaint


def test_zip_vendors_client_protocol_splats_and_cameras_with_relative_imports(built):
    path, _ = built
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        for required in ("__init__.py", "blender_manifest.toml", "_vendor/backend/client.py",
                         "_vendor/backend/protocol.py", "_vendor/anix_core/cameras.py",
                         "_vendor/anix_core/splats/__init__.py", "_vendor/anix_core/splats/scene.py"):
            assert required in names
        vendored = [n for n in names if n.startswith("_vendor/") and n.endswith(".py")]
        for name in vendored:
            source = z.read(name).decode()
            assert "from anix_core" not in source and "import anix_core" not in source, name
            assert "from backend" not in source and "import backend" not in source, name
        # nothing heavy rides along
        assert not any(n.startswith("_vendor/anix_core/render") or "torch" in n for n in names)


def test_wheels_cover_blender_5_0_and_5_1_on_every_platform_blender_ships(built):
    path, with_wheels = built
    if not with_wheels:
        pytest.skip("the package index was not reachable; built without wheels")
    with zipfile.ZipFile(path) as z:
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
        names = set(z.namelist())
    wheels = [w.rsplit("/", 1)[-1] for w in manifest["wheels"]]
    assert all(f"wheels/{w}" in names for w in wheels)
    for platform in ("manylinux_2_28_x86_64", "aarch64", "win_amd64", "win_arm64", "macosx"):
        for package in ("pyzmq", "msgpack"):
            for py in ("cp311", "cp313"):
                ok = [w for w in wheels if w.startswith(package + "-") and platform in w
                      and (f"-{py}-" in w or (py == "cp313" and "-abi3-" in w))]
                assert ok, f"no {package} wheel for {platform} / {py}"
    assert sorted(manifest["platforms"]) == sorted(["linux-x64", "linux-arm64", "windows-x64", "windows-arm64",
                                                    "macos-arm64", "macos-x64"])
    mac = [w for w in wheels if "macosx" in w]
    assert any("arm64" in w or "universal2" in w for w in mac)
    assert any("x86_64" in w or "universal2" in w for w in mac)


def test_the_addon_is_licensed_gpl_3_or_later_as_the_extensions_platform_requires(built):
    path, _ = built
    with zipfile.ZipFile(path) as z:
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]


def test_rewrite_imports_makes_absolute_repository_imports_relative():
    source = "from anix_core.splats.scene import GaussianScene\nimport anix_core.cameras as cams\nimport os\n"
    out = build_addon.rewrite_imports(source, "anix_core.splats.ply", is_package=False)
    assert "from ...anix_core.splats.scene import GaussianScene" in out
    assert "from ...anix_core import cameras as cams" in out
    assert "import os" in out


def test_vendoring_refuses_code_that_would_drag_heavy_dependencies_into_blender(tmp_path, monkeypatch):
    pkg = tmp_path / "anix_core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "heavy.py").write_text("import torch\n")
    monkeypatch.setattr(build_addon, "REPO", tmp_path)
    with pytest.raises(build_addon.BuildError, match="torch"):
        build_addon.vendored_modules(("anix_core.heavy",))


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:5555", "tcp://localhost:7000", "tcp://[::1]:5555",
                                     "tcp://127.0.0.2:9"])
def test_a_backend_on_this_machine_works_without_online_access(address):
    assert network.check_address(address, online_access=False) == address


def test_a_remote_backend_needs_online_access_and_says_how_to_enable_it():
    with pytest.raises(network.AddressError, match="Allow Online Access"):
        network.check_address("tcp://gpu-box.studio.lan:5555", online_access=False)
    assert network.check_address("tcp://gpu-box.studio.lan:5555", online_access=True)


@pytest.mark.parametrize("address", ["127.0.0.1:5555", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "http://x:1"])
def test_a_malformed_address_is_refused_with_the_expected_form(address):
    with pytest.raises(network.AddressError, match="tcp://HOST:PORT"):
        network.check_address(address, online_access=True)
