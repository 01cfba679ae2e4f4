"""The protocol surface: RFC 8414 metadata, JWKS, RFC 7662 introspection, RFC 7009 revocation."""
