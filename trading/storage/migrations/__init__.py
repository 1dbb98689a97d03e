"""Numbered SQL migrations (`NNNN_name.sql`), applied in order by `trading.storage.migrate`.

Never edit a file that has been applied somewhere: add a new one. `migrate` refuses to run when an applied
file's checksum changed.
"""
