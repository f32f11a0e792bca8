"""Farm submission of a shot: Deadline 10 job/plugin info files, an OpenCue job spec (pyoutline),
or the Open Job Description template with its parameter values. ``restyle submit`` writes them,
``restyle gate`` is the QC step they run; the commands themselves are in :mod:`.shot`."""
