"""The farm's prep step, run by Nuke in terminal mode (NUKE_PATH = the toolset, so init.py has put
``nuke_plugin`` on sys.path):

    nuke -t <toolset>/nuke_plugin/farm_prep.py SCRIPT.nk FIRST-LAST NODE [NODE...]

renders the named toolset nodes' inputs for the chunk and checks them against their approved
version (:func:`nuke_plugin.farm.prep`). The frames come before the node names: Nuke takes a
trailing frame range off a ``-t`` command line.
"""
import sys

from nuke_plugin import farm

if __name__ == "__main__":
    sys.exit(farm.main(sys.argv[1:]))
