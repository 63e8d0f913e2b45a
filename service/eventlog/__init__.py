"""The event log: every beacon and batch decision, kept to be corrected and replayed.

record.lua appends each call's decisions to a stream per shard (record.py is the format);
the scheduler's leader drains the streams into Parquet files by day (drain.py, archive.py).
"""
