"""One small Qt shim: PySide6 (Nuke 16+) or PySide2 (Nuke 14-15), whichever Nuke ships.

Only what the plug-in uses lives here (QDesktopServices and QUrl sit in the same modules in Qt 5 and 6).
"""
from __future__ import annotations

from typing import Any, Tuple


def bindings() -> Tuple[Any, Any]:
    """(QtCore, QtGui) of PySide6, else PySide2.

    Raises:
        RuntimeError: neither is importable (e.g. a terminal session of a Nuke without Qt).
    """
    try:
        from PySide6 import QtCore, QtGui
    except ImportError:
        try:
            from PySide2 import QtCore, QtGui
        except ImportError:
            raise RuntimeError("no Qt binding (PySide6 or PySide2) in this Python; open the file yourself") from None
    return QtCore, QtGui


def open_path(path: str) -> None:
    """Open a file or folder with the desktop's default application."""
    QtCore, QtGui = bindings()
    if not QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(path)):
        raise RuntimeError("the desktop could not open {}".format(path))
