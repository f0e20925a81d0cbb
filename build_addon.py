"""Build the Blender extension: `python build_addon.py` writes dist/anix_studio-<version>.zip.

The zip holds
- the add-on (`blender_addon/`, installed by Blender as the extension `anix_studio`);
- `_vendor/`: `anix_core.splats`, `anix_core.cameras`, `backend.client`, `backend.protocol` and
  whatever they import from this repository, copied at build time (one source of truth) with
  their absolute imports rewritten to relative ones, so no `sys.path` change is needed;
- `wheels/`: pyzmq and msgpack for every platform Blender ships (Linux x64 and arm64, Windows x64
  and arm64, macOS arm64 and x64), for Python 3.11 (Blender 5.0) and 3.13 (Blender 5.1+), downloaded with
  `pip download --only-binary=:all:` into a cache ($ANIX_WHEEL_CACHE or
  ~/.cache/anix_studio/wheels) and listed in the manifest's `wheels`.

The zip is then checked with Blender's own `blender_ext.py validate` (shipped in the bpy wheel)
when it can be found. `--no-wheels` builds without wheels (for offline use: the user then
needs pyzmq and msgpack in Blender's Python some other way).
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent
ADDON_DIR = REPO / "blender_addon"
VENDOR = "_vendor"
# Modules of this repository the add-on uses; everything they import from the repository follows.
VENDOR_ROOTS = ("anix_core.splats", "anix_core.cameras", "backend.protocol", "backend.client")
REPO_PACKAGES = ("anix_core", "backend")
# Third-party modules vendored code may import at module level (numpy ships with Blender).
ALLOWED_THIRD_PARTY = {"numpy", "zmq", "msgpack"}

WHEEL_REQUIREMENTS = ("pyzmq==27.3.0", "msgpack==1.2.4")
WHEEL_PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "linux-arm64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
    "windows-x64": ("win_amd64",),
    "windows-arm64": ("win_arm64",),
    "macos-arm64": ("macosx_11_0_arm64", "macosx_10_9_universal2"),
    "macos-x64": ("macosx_10_15_x86_64", "macosx_10_9_x86_64", "macosx_10_9_universal2"),
}
PYTHON_VERSIONS = ("3.11", "3.13")  # Blender 5.0, Blender 5.1+


class BuildError(Exception):
    """A build problem with a message that says what to fix."""


# --- vendoring ------------------------------------------------------------------------------

def _module_path(name: str) -> Path:
    base = REPO.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    raise BuildError(f"module {name} not found in the repository (looked for {base}.py and {base}/__init__.py)")


def _resolve_from(module: str, node: ast.ImportFrom) -> str | None:
    """Absolute module name of a `from ... import` inside `module` (a dotted name)."""
    if node.level == 0:
        return node.module
    is_package = _module_path(module).name == "__init__.py"
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _repo_imports(module: str, tree: ast.Module) -> tuple[set[str], list[str]]:
    """(repository modules imported by `module`, module-level imports outside the allowed set)."""
    found: set[str] = set()
    foreign: list[str] = []
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, node)
            if base is None:
                continue
            names = [base]
            # `from anix_core.splats import ply` may name a submodule
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                try:
                    _module_path(candidate)
                    names.append(candidate)
                except BuildError:
                    pass
        for name in names:
            root = name.split(".")[0]
            if root in REPO_PACKAGES:
                if name != root:
                    found.add(name)
            elif id(node) in top_level and root not in ALLOWED_THIRD_PARTY \
                    and root not in sys.stdlib_module_names and root != "__future__":
                foreign.append(name)
    return found, foreign


def vendored_modules(roots=VENDOR_ROOTS) -> dict[str, Path]:
    """Every repository module the roots need, following imports; module name -> source file."""
    todo, done = list(roots), {}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        path = _module_path(name)
        done[name] = path
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found, foreign = _repo_imports(name, tree)
        if foreign:
            raise BuildError(f"{path.relative_to(REPO)} imports {', '.join(sorted(set(foreign)))} at module level; "
                             "code vendored into Blender may import only the standard library, numpy, zmq and msgpack")
        # a package's __init__ runs before its submodules: vendor the parents' __init__ too
        parts = name.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            if _module_path(parent).name == "__init__.py":
                found.add(parent)
        todo.extend(found - done.keys())
    return done


_FROM_RE = re.compile(r"from(\s+)(" + "|".join(REPO_PACKAGES) + r")\b")
_IMPORT_AS_RE = re.compile(r"import(\s+)((?:" + "|".join(REPO_PACKAGES) + r")(?:\.\w+)*)\.(\w+)(\s+as\s+)")


def rewrite_imports(source: str, module: str, is_package: bool) -> str:
    """Turn absolute imports of repository packages into relative imports inside `_vendor/`."""
    depth = len(module.split(".")) - (0 if is_package else 1)
    dots = "." * (depth + 1)
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in REPO_PACKAGES:
            i, col = node.lineno - 1, node.col_offset
            lines[i] = lines[i][:col] + _FROM_RE.sub(rf"from\g<1>{dots}\g<2>", lines[i][col:], count=1)
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] in REPO_PACKAGES for a in node.names):
            i, col = node.lineno - 1, node.col_offset
            new, n = _IMPORT_AS_RE.subn(rf"from {dots}\g<2> import \g<3>\g<4>", lines[i][col:], count=1)
            if n != 1 or len(node.names) != 1:
                raise BuildError(f"{module}: write `from package import module` (or `import a.b as c`) "
                                 f"instead of line {node.lineno}: {lines[i].strip()}")
            lines[i] = lines[i][:col] + new
    return "".join(lines)


def vendor_files() -> dict[str, bytes]:
    """Archive path inside the add-on -> content, for every vendored module and package __init__."""
    files: dict[str, bytes] = {}
    for name, path in vendored_modules().items():
        is_package = path.name == "__init__.py"
        rel = Path(*name.split("."), "__init__.py") if is_package else Path(*name.split(".")).with_suffix(".py")
        files[f"{VENDOR}/{rel.as_posix()}"] = rewrite_imports(path.read_text(encoding="utf-8"), name, is_package).encode()
    # top-level packages get an empty __init__ (the real ones may import heavy code)
    for pkg in REPO_PACKAGES:
        if any(k.startswith(f"{VENDOR}/{pkg}/") for k in files):
            files[f"{VENDOR}/{pkg}/__init__.py"] = b'"""Vendored from the AniX Studio repository at build time."""\n'
    files[f"{VENDOR}/__init__.py"] = b'"""Code vendored from the AniX Studio repository at build time; do not edit."""\n'
    return files


# --- wheels ----------------------------------------------------------------------------------

def wheel_cache() -> Path:
    return Path(os.environ.get("ANIX_WHEEL_CACHE", Path.home() / ".cache" / "anix_studio" / "wheels"))


def download_wheels(cache: Path, requirements=WHEEL_REQUIREMENTS) -> list[Path]:
    """Wheels for every (platform, Python) pair; pip skips files already in the cache."""
    wheels: set[Path] = set()
    for platform, tags in WHEEL_PLATFORMS.items():
        for py in PYTHON_VERSIONS:
            dest = cache / platform / f"py{py}"
            dest.mkdir(parents=True, exist_ok=True)
            have = sorted(dest.glob("*.whl"))
            names = {re.split(r"[=<>]", r)[0].replace("-", "_").lower() for r in requirements}
            if {w.name.split("-")[0].lower() for w in have} >= names:
                wheels.update(have)
                continue
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--only-binary=:all:", "--no-deps", "--python-version", py, "--implementation", "cp",
                   "-d", str(dest)]
            for tag in tags:
                cmd += ["--platform", tag]
            result = subprocess.run(cmd + list(requirements), capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"pip could not download wheels for {platform} / Python {py}:\n"
                                 f"{result.stderr.strip()[-2000:]}\n(use --no-wheels to build without them)")
            wheels.update(dest.glob("*.whl"))
    # the same file may serve several pairs (abi3, universal2): keep one of each name
    return sorted({w.name: w for w in wheels}.values(), key=lambda w: w.name)


# --- manifest, zip, validation -----------------------------------------------------------------

def read_version() -> str:
    with open(ADDON_DIR / "blender_manifest.toml", "rb") as f:
        return tomllib.load(f)["version"]


def manifest_with_wheels(wheel_names: list[str]) -> str:
    text = (ADDON_DIR / "blender_manifest.toml").read_text(encoding="utf-8")
    listing = "wheels = [\n" + "".join(f'  "./wheels/{n}",\n' for n in wheel_names) + "]"
    new, n = re.subn(r"(?m)^wheels\s*=\s*\[[^\]]*\]", lambda m: listing, text)
    if n != 1:
        raise BuildError("blender_addon/blender_manifest.toml needs one `wheels = [...]` line for the build to fill")
    platforms = tomllib.loads(new).get("platforms")
    if platforms is not None and sorted(platforms) != sorted(WHEEL_PLATFORMS):
        raise BuildError(f"blender_manifest.toml's platforms {platforms} must be the ones wheels are bundled for: "
                         f"{sorted(WHEEL_PLATFORMS)}")
    return new


def addon_files() -> dict[str, Path]:
    files = {}
    for path in sorted(ADDON_DIR.rglob("*")):
        rel = path.relative_to(ADDON_DIR).as_posix()
        if path.is_dir() or "__pycache__" in rel or rel.startswith(VENDOR + "/") or path.suffix in (".pyc", ".zip"):
            continue
        if rel == "blender_manifest.toml":
            continue
        files[rel] = path
    return files


def find_blender_ext() -> Path | None:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        hits = sorted(Path(root).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    return None


def validate(zip_path: Path) -> str:
    """Run Blender's `blender_ext.py validate`; returns its output, raises BuildError on failure."""
    tool = find_blender_ext()
    if tool is None:
        return "skipped: bpy (with bl_pkg/cli/blender_ext.py) is not installed"
    result = subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], capture_output=True, text=True)
    out = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "error" in out.lower():
        raise BuildError(f"Blender's extension validation failed for {zip_path}:\n{out}")
    return out


def build(out_dir: Path = REPO / "dist", with_wheels: bool = True, cache: Path | None = None,
          check: bool = True) -> Path:
    """Write dist/anix_studio-<version>.zip and return its path."""
    wheels = download_wheels(cache or wheel_cache()) if with_wheels else []
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"anix_studio-{read_version()}.zip"
    tmp = zip_path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("blender_manifest.toml", manifest_with_wheels([w.name for w in wheels]))
        for rel, path in addon_files().items():
            z.write(path, rel)
        for rel, data in sorted(vendor_files().items()):
            z.writestr(rel, data)
        for wheel in wheels:
            z.write(wheel, f"wheels/{wheel.name}", compress_type=zipfile.ZIP_STORED)
    tmp.replace(zip_path)
    if check:
        validate(zip_path)
    return zip_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default: dist/)")
    parser.add_argument("--no-wheels", action="store_true", help="do not bundle pyzmq/msgpack wheels (offline build)")
    parser.add_argument("--wheel-cache", type=Path, default=None, help="wheel cache folder (default: $ANIX_WHEEL_CACHE "
                        "or ~/.cache/anix_studio/wheels)")
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's extension validation")
    args = parser.parse_args(argv)
    try:
        path = build(args.out, with_wheels=not args.no_wheels, cache=args.wheel_cache, check=not args.no_validate)
    except BuildError as exc:
        print(f"build_addon: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
