-- Whether a table (and column, if given) exists: the export includes optional parts (a cohort, the
-- wear records) only where the schema has them.
SELECT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = %(table)s
      AND (%(column)s::text IS NULL OR column_name = %(column)s::text)
)
