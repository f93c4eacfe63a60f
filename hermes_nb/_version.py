"""The package's version, in a leaf module so any layer can name it (the MCP client
introduces itself with it) without importing the package's root, which loads the
kernel side."""

__version__ = "0.1.0"
