"""Corpus embedding and search: a corpus on disk -> clip-retrieval's layout of parts -> top-k queries.

Layout:

- ``sources``: what ``clipzoo embed SOURCE...`` reads (folders, globs, brace ranges, image files, lists, tar
  shards) as one ordered stream of items; stdlib + pyarrow.
- ``chunks``: the stream cut into parts and batches (the same on every run and engine), and the per-batch
  preprocessing the workers run (torch-free) and encoding the model runs.
- ``encoder``: the model, chosen by a table (a torch model through ``optimize_for_inference`` or autocast, or
  an ONNX folder), and the checks of model, tag and weights before any work.
- ``layout``: the output folder (``img_emb/``, ``text_emb/``, ``metadata/``, ``clipzoo_embed.json``,
  ``failures.parquet``), parts written atomically, the manifest that resumes a run.
- ``local``: the local engine (worker processes overlapped with encoding); ``ray_engine``: Ray Data (the
  optional ``ray`` extra); chosen by name from ``run.ENGINES``.
- ``run``: ``embed(...)``, the checks, the part loop both engines share, the summary.
- ``search``: ``search(...)``, exact cosine top-k over memory-mapped parts in chunks, or a faiss index.

Above the factory, inference and onnx packages, below the CLI. ``import clipzoo.corpus`` imports no torch.
"""
