-- First start of the PostgreSQL container: the salesops database. The services create their own schemas
-- and tables at start (shared/store.ensure_database, reporting ensure_schema).
SELECT 'CREATE DATABASE salesops ENCODING ''UTF8'' TEMPLATE template0' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'salesops')\gexec
