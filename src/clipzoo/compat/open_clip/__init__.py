"""Everything that exists only for ``import open_clip``: the alias table and import hook (``alias``),
open_clip's signatures where clipzoo's differ (``modules``: layers, blocks, towers; ``tokenizer``; ``helpers``:
pooling, locking, state-dict conversion, dependency flags; ``cfg``), and open_clip modules clipzoo itself does
not need (``openai``, ``pos_embed``, ``push_to_hf_hub``, ``utils``, ``hf_poolers``,
``zero_shot_legacy``). ``_alias_site`` is put on ``PYTHONPATH`` by ``clipzoo run``.

May import any clipzoo package but the CLI.
"""
