"""Jobs: what each ``restyle`` command takes (:mod:`.commands`, :mod:`.fields`), its JSON manifest
(:mod:`.manifest`), a job checked from both (:mod:`.job`), as flags again (:mod:`.argv`), and the
runners that hand it to the engine (:mod:`.runners`). The CLI is argparse on top of these; the demo
and the farm use them directly. Dependencies run one way: CLI -> jobs -> engine."""
