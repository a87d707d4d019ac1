"""One module per way of writing firmware to a board: bossac, drive (UF2 and ST-LINK copies), esptool, arduino_cli.

Each has `upload(job) -> UploadResult` and the pure functions that build its command line; job.py holds what they
share (the board, the images, the settings, the reporter, finding the board again afterwards). flash.upload picks
the module from the board's catalogue entry.
"""
