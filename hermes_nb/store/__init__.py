"""Sessions on disk: the session object, the file format with its journal, the index,
locks, merging, publishing, the readers and their cache, for the sessions folder next
to a notebook. The kernel side and the server extension both reach sessions
through it.

Below every package but the leaves: may import safety and errors only, and no
Jupyter or web server (IPython, ipykernel, ipywidgets, comm, jupyter_*, nbformat,
tornado), so a server process or a script can use it alone. Everything above may
import it.
"""
