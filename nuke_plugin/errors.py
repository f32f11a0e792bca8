"""The one error type the plug-in reports to the user: its text says what to fix or do."""


class PluginError(Exception):
    """Bad input or state found by the plug-in (no keyframe, wrong range, changed plate...)."""
