"""Loading plugins: a module or a .py file that registers custom components (``--plugin``;
a sweep's worker processes load them too) before a scenario names them."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

from cosim.scenario.files import InputFileError, check_input_file, excerpt
from cosim.scenario.registry import RegistryError

PLUGIN_MAX_BYTES = 16 * 2**20

LOADED_FILES: list[Path] = []  # plugin .py files imported by this process (checkpoints hash them)


def load_plugin(spec: str) -> None:
    """Import a module (``pkg.module``) or a Python file (``path/to/file.py``) so that the
    components it registers can be named by scenario files; RegistryError when it cannot."""
    path = Path(spec)
    try:
        if spec.endswith(".py"):
            try:
                check_input_file(path, "--plugin file", PLUGIN_MAX_BYTES)
            except InputFileError as exc:
                raise RegistryError(f"--plugin {excerpt(spec, 80)}: {exc}") from None
            name = f"wfl_cosim_plugin_{re.sub(r'[^A-Za-z0-9_]', '_', str(path.resolve()))}"
            if name in sys.modules:
                return
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            LOADED_FILES.append(path.resolve())
        else:
            importlib.import_module(spec)
    except RegistryError:
        raise
    except SystemExit as exc:  # a plugin must not end the program while it is imported
        raise RegistryError(
            f"--plugin {spec}: importing it called sys.exit({exc.code!r})"
        ) from None
    except ModuleNotFoundError as exc:
        raise RegistryError(f"--plugin {spec}: cannot import it ({exc})") from None
    except Exception as exc:  # the plugin's own error, reported with where it came from
        raise RegistryError(f"--plugin {spec}: importing it failed: {exc!r}") from exc


def load_plugins(specs: tuple[str, ...] | list[str]) -> None:
    """``load_plugin`` for each (a sweep's worker processes call this first)."""
    for spec in specs:
        load_plugin(spec)
