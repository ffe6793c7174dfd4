"""All network access of clipzoo: Hub files, release URLs verified by SHA-256, the cache, offline mode.

Nothing else in clipzoo opens a connection. May import: errors, constants, files, registry (tag records).

Modules
  - ``pretrained``: ``download_pretrained``, a tag record -> its weights file (local file, Hub or URL).
  - ``url``: release URLs fetched once into the clipzoo cache, verified by the SHA-256 they encode.
  - ``hf``: Hub files fetched into the standard HF cache, verified by the SHA-256 the Hub lists.
  - ``options``: ``FetchOptions``, the keyword options (timeout, retries, names) all downloads take.
  - ``cache``: cache folders, offline mode, the verified stamps of URL files.
  - ``retry``: timeouts, retries and backoff, and which failures are worth another attempt.
  - ``errors``: ``DownloadError`` and its subclasses, and how messages name the weights and the fix.
"""
