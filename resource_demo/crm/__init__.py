"""The CRM slice behind the v2 API: plain functions taking the caller's account id, never ``flask.request``."""
