-- The unified search (src/core/search.c): pg_trgm GIN indexes over the
-- catalogue's text, and the searches log.
--
-- A substring search is lower(column) LIKE lower('%q%'), which a GIN index
-- of trigrams on lower(column) answers for patterns of three characters or
-- more; the suggestions use pg_trgm's word_similarity (the %> operator, also
-- answered by these indexes). The indexes follow the tables by themselves:
-- no triggers.
--
-- pg_trgm comes from postgresql-contrib and is a trusted extension: the
-- database owner may create it. It is created in the public schema when
-- missing, not in whatever schema comes first in search_path: a database
-- holds one pg_trgm, and an extension living in one application schema
-- would vanish with that schema (the unit tests give each case a schema of
-- its own and drop it afterwards) and take every other schema's trigram
-- indexes with it. The indexes name the operator class with the schema the
-- extension is in, found at migration time, so this works whatever the
-- search_path; the suggestion query calls word_similarity unqualified, so
-- the extension's schema must be on the search_path at run time (public
-- is, by default).
DO $$
DECLARE
    ext_schema TEXT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
            CREATE EXTENSION pg_trgm SCHEMA public;
        ELSE
            CREATE EXTENSION pg_trgm;
        END IF;
    END IF;
    SELECT n.nspname INTO ext_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX products_name_trgm ON products '
                   'USING gin (lower(name) %I.gin_trgm_ops)', ext_schema);
    EXECUTE format('CREATE INDEX products_description_trgm ON products '
                   'USING gin (lower(description) %I.gin_trgm_ops)', ext_schema);
    EXECUTE format('CREATE INDEX products_tags_trgm ON products '
                   'USING gin (lower(tags) %I.gin_trgm_ops)', ext_schema);
    EXECUTE format('CREATE INDEX categories_name_trgm ON categories '
                   'USING gin (lower(name) %I.gin_trgm_ops)', ext_schema);
    EXECUTE format('CREATE INDEX categories_description_trgm ON categories '
                   'USING gin (lower(description) %I.gin_trgm_ops)', ext_schema);
    EXECUTE format('CREATE INDEX categories_tags_trgm ON categories '
                   'USING gin (lower(tags) %I.gin_trgm_ops)', ext_schema);
END
$$;

-- One row per search for the analytics issue. type is 'all', 'product' or
-- 'category'; user_id is NULL for anonymous searches and when the user is
-- deleted; result_count is what the answer held (products + categories, 0
-- when it fell back to suggestions).
CREATE TABLE searches (
    id BIGSERIAL PRIMARY KEY,
    query TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    result_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX searches_created ON searches (created_at);
CREATE INDEX searches_user ON searches (user_id) WHERE user_id IS NOT NULL;
