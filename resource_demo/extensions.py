"""This service's own database handle: separate from the authorization server's, bound in ``create_app``."""

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
