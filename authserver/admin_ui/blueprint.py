"""The admin pages' blueprint; each page module adds its views to it (``admin_ui/__init__`` imports them all)."""

from flask import Blueprint

bp = Blueprint("admin_ui", __name__)
