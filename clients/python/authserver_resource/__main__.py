"""``python -m authserver_resource``: the same command line as ``authserver-resource``."""

from .cli import main

main()
