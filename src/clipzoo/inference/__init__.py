"""Fast inference paths, chosen from the hardware at run time.

Layout:

- ``cpu_features``: which SIMD/matrix extensions the CPU has (``/proc/cpuinfo``, torch's dispatch level);
  standard library only, never imports torch.
- ``paths``: which path (``bf16``, ``int8``, ``fp32``, ``unchanged``) a model on a device gets and why: one table
  of rules, standard library only.
- ``convert``: the model rewrites each path applies (oneDNN-prepacked bf16 linears, int8 dynamic linears, the
  fused-QKV attention both start from); imports torch.
- ``optimize``: ``optimize_for_inference(model)``, the one public switch, and the log line it writes.

This package imports the model classes (``clipzoo.models``) but nothing from the factory, hub or CLI; the
factory does not import it (``create_model`` stays as fast as before for users who do not ask for it).
"""
