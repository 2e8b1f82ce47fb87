"""Watched folders and SFTP pickup: files a business system drops, taken in as letters.

Each source (`utskick.intake.sources`) with a `folder` or an `sftp_url` is polled every
`poll_seconds` by a `pickup` job. A poll takes what is complete in the source's folder:
print files (with their control files), tables (CSV, XLSX) and NDJSON batches, each exactly
once, and leaves beside each a receipt, a reason or, later, its letters' outcomes.

- `folders`: the folder port (`PickupFolder`) and the local folder; `sftp`: the SFTP one;
  `opening`: the one a source names, opened for a poll.
- `stability`: which files are written to the end; `names`: which names can be taken;
  `plan`: what to do with each file.
- `taking`: taking a file, kill-safe, never twice, never lost; `moves`: the renames out.
- `takers`: each kind of file to its taker; `ndjson`: the NDJSON batch taker.
- `receipts`: the receipt, reason and outcome files; `outcomes`: when outcomes are due.
- `repository`: the `intake_file` rows; `locks`: one poll of a source at a time.
- `poll`: `poll_source`, one poll; `jobs`: the `pickup` job and `ensure_pickup_jobs`.
"""
