"""The agent engine: a provider, a tool registry and the loop between them, with no
knowledge of Jupyter.

``loop`` runs one request (the model's turns and the tool calls between them) and
emits ``events``; ``providers`` speak to the models; ``tools`` holds the registry and
the built-in tools; ``history`` turns a session's messages into a valid request.

May import: context (the request's attachments), store (the replay provider reads a
session's journal), safety, errors. No Jupyter package (IPython, ipykernel,
ipywidgets, comm, jupyter_*, nbformat, tornado): the ``python`` tool alone uses a
running IPython's display publisher, and only when IPython is already loaded.
Imported by mcp, ui, kernel and the package root (``hermes_nb.tool``).
"""
