"""Nuke GUI start-up: the Nodes toolbar's "Restyle" menu and Nuke ▸ Restyle ▸ Preferences.
Nuke runs menu.py only with the GUI.

The entries come from ``nuke_plugin.nodes``; init.py has already put this repository on
sys.path and the gizmos and icons on the plug-in path. A failure here is printed to stderr and
never stops Nuke from starting.
"""


def _build_menu():
    # type: () -> None
    import nuke

    from nuke_plugin.nodes import MENU_NAME, NODES, PREFERENCES

    toolbar = nuke.menu("Nodes")
    if toolbar is None:  # no GUI
        return
    from nuke_plugin.settings import apply_defaults

    submenu = toolbar.addMenu(MENU_NAME, icon=NODES[0].icon)
    for node in NODES:
        submenu.addCommand(node.label, "nuke.createNode({!r})".format(node.node_class),
                           icon=node.icon, tooltip=node.tooltip)
        nuke.addOnUserCreate(apply_defaults, nodeClass=node.node_class)  # the preferences' cache folder
    nuke.menu("Nuke").addCommand(PREFERENCES, "import nuke_plugin.settings as s; s.show_panel()",
                                 tooltip="Which Python runs the engine, and the default cache folder")


try:
    _build_menu()
except Exception:  # a broken plug-in must not stop Nuke from starting
    import traceback

    traceback.print_exc()
finally:
    del _build_menu
