"""Guards every layer uses, each a leaf: files written so a crash loses nothing and read
within bounds (``fsio``), secrets removed from everything written (``redact``), JSON
nesting bounded (``depth``), rich outputs narrowed to what is safe to show
(``safe_output``).

May import: errors only. Everything above may import it.
"""
