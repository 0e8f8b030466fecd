-- Nothing to change here. Migration versions are kept in step across the three dialects
-- (`wxlogin copy-data` compares them), and MySQL's 0003 adds the procedure that records a
-- login in one round trip. PostgreSQL does the same in one statement with data-modifying
-- CTEs; SQLite's writer commits in groups and pays no round trip per statement.
SELECT 1;
