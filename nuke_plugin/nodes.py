"""The toolset's Nuke nodes: the one place that names their classes, menu labels and icons.

A gizmo's node class is its file stem (``gizmos/RestyleLook.gizmo`` -> ``nuke.createNode('RestyleLook')``),
so the classes carry a ``Restyle`` prefix to stay clear of Nuke's built-in and Furnace node names.
Stdlib only: menu.py imports this at Nuke start-up.
"""
from typing import NamedTuple, Tuple

MENU_NAME = "Restyle"  # submenu of the Nodes toolbar
PREFERENCES = "Restyle/Preferences..."  # entry of the main menu bar (Nuke > Restyle)


class NodeEntry(NamedTuple):
    label: str
    node_class: str
    tooltip: str
    icon: str  # file name only: Nuke finds icons on its plug-in path (init.py adds gizmos/icons)


NODES: Tuple[NodeEntry, ...] = (
    NodeEntry("Restyle", "RestyleLook",
              "Restyle the plate from painted keyframes (few-shot, trained on this shot).",
              "RestyleLook.xpm"),
    NodeEntry("Deflicker", "RestyleDeflicker",
              "Settle temporal flicker, guided by the plate's motion.",
              "RestyleDeflicker.xpm"),
    NodeEntry("ColourLock", "RestyleColourLock",
              "Lock colour to a reference frame and brand swatches; writes a QC report.",
              "RestyleColourLock.xpm"),
)
