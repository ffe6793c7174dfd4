"""All network access of clipzoo: Hub files, release URLs verified by SHA-256, the cache, offline mode.

Nothing else in clipzoo opens a connection. May import: errors, constants, files, registry (tag records).
"""
