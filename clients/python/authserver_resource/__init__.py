"""authserver-resource: protect a v2 service with tokens from the authorization server, in a few lines.

    from authserver_resource import Guard, Settings
    guard = Guard(Settings(issuer=..., client_id=..., client_secret=..., resource="https://api.example.com/crm"))

then one face: ``wsgi.ProtectedWSGI``, ``asgi.ProtectedASGI``, ``fastapi.Requires``, ``flask.FlaskResource``, or
the ``authserver-resource gate`` command for services in other languages. Importing this package starts nothing
and reads no environment.
"""

from .bearer import BearerError
from .grants import Grant
from .guard import Guard
from .settings import Settings, SettingsError

__all__ = ["BearerError", "Grant", "Guard", "Settings", "SettingsError"]
