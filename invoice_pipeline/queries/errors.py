"""The one error type readers see: bad arguments, unknown companies, missing rows."""


class QueryError(ValueError):
    """A query that cannot be answered as asked; the message says why, in one line."""


class NotFoundError(QueryError):
    """The company or row does not exist (or is not the caller's to see)."""
