"""The notebook side: everything that runs in the kernel around one ``%%agent`` cell.

The magics and the ``%agent`` commands (``magics``, ``commands``), the cell loop that
drives a run and draws it (``cell_loop``, ``view_pump``), a run's lifecycle with its
checkpoints, final save and the repair of runs a dead kernel left (``run_lifecycle``),
the tools that need the kernel or the notebook (``toolset``, ``notebook_tools``,
``notebook_live``), the link to the JupyterLab page (``frontend_link``), finding the
notebook, titles, compression and prewarm.

May import: mcp, ui, agent, context, store, safety, errors, and Jupyter (IPython,
ipykernel, traitlets, comm); not the server extension, its sibling. Imported by the
package root only.
"""
