"""Nuke start-up (GUI and terminal, farm renders included): register this toolset's paths.

Nuke runs ``init.py`` from every directory on its plug-in path; point NUKE_PATH at this
repository (or ``nuke.pluginAddPath`` it). This adds ``gizmos/`` and its subfolders (icons) to
the plug-in path, so ``nuke -x`` renders find the gizmo classes, and the repository to sys.path,
so ``nuke_plugin`` imports. It imports no engine code. A failure here is printed to stderr and
never stops Nuke from starting.
"""


def _register_paths():
    # type: () -> None
    import os
    import sys

    import nuke

    root = os.path.dirname(os.path.abspath(__file__))
    gizmos = os.path.join(root, "gizmos")
    folders = []
    for folder, subfolders, _files in os.walk(gizmos):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "_")))
        folders.append(folder)
    # pluginAddPath prefixes, so add the deepest first to keep gizmos/ ahead of its subfolders.
    for folder in reversed(folders):
        nuke.pluginAddPath(folder, addToSysPath=False)
    if root not in sys.path:
        sys.path.append(root)


try:
    _register_paths()
except Exception:  # a broken plug-in must not stop Nuke (or a farm render) from starting
    import traceback

    traceback.print_exc()
finally:
    del _register_paths
