"""ColourLock engine core: CIEDE2000, colour-transform fitting, .cube LUTs, brand swatches.

Pure numpy / OpenCV / OpenColorIO / colour-science; frames are float32 ``(H, W, 3)``
arrays and the caller does the file I/O.
"""
