"""The agent engine: a provider, a tool registry and the loop between them, with no
knowledge of Jupyter."""
