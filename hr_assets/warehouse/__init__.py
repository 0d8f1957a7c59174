"""The warehouse: the one package that talks to the database (SQL text lives in ``sql/``)."""
